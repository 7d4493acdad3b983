/**
 * The baseline for bench:delivery's end-to-end figure: BullMQ alone, with the same jobs. Per event,
 * one job in each of four destination queues (three http, one postgres), with the delivery job
 * options, ids and payload the fan-out writes, added in batches of 100 with `addBulk` while
 * workers with no-op processors (concurrency 100, the forwarder's connection settings) take them,
 * all in one process as `npm start` runs. No receiver, ingest queue, HTTP or database: what is
 * left is the queue's own cost, a ceiling for the pipeline on this machine.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import * as v from 'valibot';
import { RetentionConfig } from '../src/config/index.ts';
import { deliveryJobOptions } from '../src/delivery/retry.ts';
import { deliveryJobId, destinationQueueName } from '../src/queue/names.ts';
import { deleteKeysWithPrefix, workerConnection } from '../src/queue/redis.ts';
import type { CallEvent } from '../src/telecmi/index.ts';

const DESTINATIONS = ['crm1', 'crm2', 'crm3', 'warehouse'];
const BATCH = 100;

/** Processes every event's four jobs; returns jobs of the three "http" queues per second. */
export async function bullmqFloor(
  redisUrl: string,
  events: CallEvent[],
): Promise<{ httpJobsPerSec: number }> {
  const prefix = `bench-floor-${randomBytes(3).toString('hex')}`;
  const connection = workerConnection(redisUrl);
  const jobOptions = deliveryJobOptions(v.parse(RetentionConfig, {}));
  const queues = DESTINATIONS.map(
    (name) => new Queue<CallEvent>(destinationQueueName(name), { connection, prefix }),
  );
  let processed = 0;
  const total = events.length * DESTINATIONS.length;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const started = performance.now();
  const workers = queues.map(
    (queue) =>
      new Worker<CallEvent>(
        queue.name,
        async () => {
          processed += 1;
          if (processed === total) allDone();
        },
        { connection, prefix, concurrency: 100 },
      ),
  );
  try {
    for (let start = 0; start < events.length; start += BATCH) {
      const batch = events.slice(start, start + BATCH);
      await Promise.all(
        queues.map((queue, index) =>
          queue.addBulk(
            batch.map((event) => ({
              name: event.kind,
              data: event,
              opts: { ...jobOptions, jobId: deliveryJobId(event.id, DESTINATIONS[index] as string) },
            })),
          ),
        ),
      );
    }
    await done;
    const seconds = (performance.now() - started) / 1000;
    return { httpJobsPerSec: (events.length * 3) / seconds };
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
    await Promise.all(queues.map((queue) => queue.close()));
    connection.disconnect();
    await deleteKeysWithPrefix(redisUrl, prefix);
  }
}
