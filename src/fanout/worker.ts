import { type JobsOptions, Queue, Worker } from 'bullmq';
import type { ForwarderConfig } from '../config/index.ts';
import { deliveryJobOptions } from '../delivery/retry.ts';
import type { Logger } from '../ops/logger.ts';
import { watchQueues } from '../ops/metrics.ts';
import { deliveryJobId, destinationQueueName, INGEST_QUEUE } from '../queue/names.ts';
import { workerConnection } from '../queue/redis.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { compileFilter } from './filter.ts';

interface Route {
  name: string;
  wants: (event: CallEvent) => boolean;
  queue: Queue<CallEvent>;
  jobOptions: JobsOptions;
}

export interface RunningFanout {
  worker: Worker<CallEvent>;
  close(): Promise<void>;
}

/**
 * Reads the ingest queue and gives every destination that wants the event a job of its own, in
 * its own queue, so a slow or failing destination never delays another. Job ids are derived from
 * event id and destination: a fan-out that is retried or runs twice adds nothing new.
 */
export function startFanout(config: ForwarderConfig, logger: Logger): RunningFanout {
  const connection = workerConnection(config.redis.url);
  connection.on('error', () => {});
  const prefix = config.redis.prefix;
  const routes: Route[] = config.destinations.map((destination) => ({
    name: destination.name,
    wants: compileFilter(destination.filter),
    queue: new Queue<CallEvent>(destinationQueueName(destination.name), { connection, prefix }),
    jobOptions: deliveryJobOptions(destination.retry),
  }));

  const worker = new Worker<CallEvent>(
    INGEST_QUEUE,
    async (job) => {
      const event = job.data;
      const targets = routes.filter((route) => route.wants(event));
      await Promise.all(
        targets.map((route) =>
          route.queue.add(event.kind, event, {
            ...route.jobOptions,
            jobId: deliveryJobId(event.id, route.name),
          }),
        ),
      );
      logger.debug({ eventId: event.id, destinations: targets.map((route) => route.name) }, 'event routed');
      return { routed: targets.map((route) => route.name) };
    },
    { connection, prefix, concurrency: 50 },
  );
  worker.on('error', (error) => logger.warn({ err: error.message }, 'fan-out worker error'));
  // For the `cdrf_queue_*` gauges of this process: the ingest queue and every destination's.
  const ingest = new Queue<CallEvent>(INGEST_QUEUE, { connection, prefix });
  const unwatch = watchQueues([ingest, ...routes.map((route) => route.queue)]);

  return {
    worker,
    async close() {
      unwatch();
      await worker.close();
      await Promise.all([ingest.close(), ...routes.map((route) => route.queue.close())]);
      connection.disconnect();
    },
  };
}
