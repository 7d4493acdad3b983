import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobWriteConnection } from '../../src/queue/job-writes.ts';
import { uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL } from '../helpers/redis-server.ts';

describe('JobWriteConnection', () => {
  const prefix = uniquePrefix('job-writes');
  let queueConnection: Redis;
  let writeConnection: Redis;
  let queue: Queue;
  let writes: JobWriteConnection;

  beforeAll(() => {
    queueConnection = new Redis(REDIS_URL);
    writeConnection = new Redis(REDIS_URL);
    queue = new Queue('deliver.crm', { connection: queueConnection, prefix });
    writes = new JobWriteConnection(queue, writeConnection);
  });
  afterAll(async () => {
    await queue.close();
    queueConnection.disconnect();
    writeConnection.disconnect();
    await deletePrefix(REDIS_URL, prefix);
  });

  it('adds jobs that BullMQ reads back, through a connection with only the add script', async () => {
    await writes.ready();
    // BullMQ's add, and nothing else of BullMQ's seventy: the point of the connection.
    const scripts = Object.keys(writeConnection.scriptsSet);
    expect(scripts).toEqual([expect.stringMatching(/^addStandardJob:/)]);
    const pipeline = writes.pipeline();
    await Promise.all(
      ['a', 'b'].map((id) => new Job(queue, 'cdr', { id }, { attempts: 3, jobId: id }, id).addJob(pipeline)),
    );
    const replies = await pipeline.exec();
    expect(replies).toEqual([
      [null, 'a'],
      [null, 'b'],
    ]);
    const job = await queue.getJob('b');
    expect(job?.data).toEqual({ id: 'b' });
    expect(job?.opts.attempts).toBe(3);
    expect(await queue.getWaitingCount()).toBe(2);
  });

  it('refuses a job BullMQ would add with another script, instead of dropping it', async () => {
    await writes.ready();
    const multi = writes.multi();
    const delayed = new Job(queue, 'cdr', {}, { delay: 1000, jobId: 'later' }, 'later');
    // Never sent: the multi is not executed.
    await expect(delayed.addJob(multi)).rejects.toThrow(
      /^BullMQ ran addDelayedJob:\S+, not defined for these writes$/,
    );
    expect(await queue.getJob('later')).toBeUndefined();
  });
});
