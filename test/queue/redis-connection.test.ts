import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { workerConnection } from '../../src/queue/redis.ts';
import { isConnectionError } from '../../src/queue/worker-lifecycle.ts';
import { OwnRedis, waitFor } from '../helpers/redis-server.ts';

describe('a worker error that is Redis out of reach', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  });

  it('is what a BullMQ worker reports when its Redis stops, so that the loss is told once, not as a worker error', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const connection = workerConnection(redis.url);
    connection.on('error', () => {});
    const errors: Error[] = [];
    const worker = new Worker('q', async () => {}, { connection, prefix: 't-conn' });
    worker.on('error', (error) => errors.push(error));
    cleanups.push(async () => {
      await worker.close(true).catch(() => {});
      connection.disconnect();
    });
    await worker.waitUntilReady();

    await redis.stop();
    await waitFor(() => errors.length >= 2, 10_000);
    expect(errors.map((error) => [error.message, isConnectionError(error)])).toEqual(
      errors.map((error) => [error.message, true]),
    );
  });

  it('is not a job or script error', () => {
    expect(isConnectionError(new Error('Missing lock for job 7. moveToFinished'))).toBe(false);
    expect(isConnectionError(new Error('ERR Error running script'))).toBe(false);
  });
});
