import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { watchQueues } from '../ops/metrics.ts';
import { addCallIndex } from '../queue/call-index.ts';
import { deliveryCounts } from '../queue/delivery-counts.ts';
import { eventOf, type IngestJobData, type IngestJobResult, notificationsOf } from '../queue/ingest.ts';
import { JobWriteConnection } from '../queue/job-writes.ts';
import { destinationQueueName, destinationsLeftBehind, INGEST_QUEUE, seenKey } from '../queue/names.ts';
import { watchConnection, workerConnection, workerRecoveryOptions } from '../queue/redis.ts';
import { closeWorker, logWorkerEvents, UnrecordedJobs } from '../queue/worker-lifecycle.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { deliveryJobOf, type Route, routeOf } from './route.ts';

/** How long a fan-out job stays locked to its worker without a renewal (renewed every half of it). */
export const FANOUT_LOCK_MS = 10_000;

export interface RunningFanout {
  worker: Worker<IngestJobData, IngestJobResult>;
  close(): Promise<void>;
}

/**
 * Reads the ingest queue and gives every destination that wants the event a job of its own, in
 * its own queue, so a slow or failing destination never delays another. Job ids are derived from
 * event id and destination: a fan-out that is retried or runs twice adds nothing new.
 */
export function startFanout(config: ForwarderConfig, logger: Logger): RunningFanout {
  const connection = workerConnection(config.redis.url);
  const redis = watchConnection(connection, logger, { worker: 'fanout' });
  const prefix = config.redis.prefix;
  const routes: Route[] = config.destinations.map((destination) => routeOf(config, destination, connection));

  // For the `cdrf_queue_*` gauges of this process: the ingest queue and every destination's.
  const ingest = new Queue<IngestJobData>(INGEST_QUEUE, { connection, prefix });
  // Their connection's loss is reported once, above.
  for (const queue of [ingest, ...routes.map((route) => route.queue)]) queue.on('error', () => {});
  // The call index lasts as long as the deliveries it leads to.
  const callIndexTtlSec = config.retention.deliveredDays * 24 * 3600;
  // The delivery jobs are added through a connection of their own: see JobWriteConnection.
  const writes = new JobWriteConnection(ingest, workerConnection(config.redis.url));
  writes.redis.on('error', () => {});

  const unrecorded = new UnrecordedJobs();
  const worker = new Worker<IngestJobData, IngestJobResult>(
    INGEST_QUEUE,
    unrecorded.track(async (job: Job<IngestJobData, IngestJobResult>) => {
      const notifications = notificationsOf(job.data);
      // A notification whose "seen" mark names another job is a resend that raced its first copy
      // into the queue: that job delivers it. No mark (the window has passed): deliver; the
      // delivery job ids still keep a second copy out.
      const marks = await connection.mget(notifications.map((n) => seenKey(prefix, n.id)));
      const duplicates: string[] = [];
      const events: CallEvent[] = [];
      const unreadable: string[] = [];
      for (const [index, notification] of notifications.entries()) {
        const mark = marks[index];
        if (mark && mark !== job.id) {
          duplicates.push(notification.id);
          continue;
        }
        try {
          events.push(eventOf(notification));
        } catch (error) {
          unreadable.push((error as Error).message);
        }
      }
      // One round trip for the call index and every delivery job, on the connection of the writes.
      await writes.ready();
      const pipeline = writes.pipeline();
      addCallIndex(pipeline, prefix, events, callIndexTtlSec);
      const added: Promise<unknown>[] = [];
      // At debug, which destinations each event went to: a filter that leaves one out says so here.
      const chosen = logger.isLevelEnabled('debug')
        ? new Map(events.map((event) => [event, [] as string[]]))
        : undefined;
      for (const route of routes) {
        for (const event of events) {
          if (!route.wants(event)) continue;
          const { name, data, opts } = deliveryJobOf(route, event);
          // Queues the add on the pipeline at once; the promise settles before exec.
          added.push(new Job(route.queue, name, data, opts, opts.jobId).addJob(pipeline));
          chosen?.get(event)?.push(route.name);
        }
      }
      await Promise.all(added);
      const replies = (await pipeline.exec()) ?? [];
      // A job already there (a fan-out run twice) is not an error: its id is answered again.
      const failed = replies.find(([error]) => error);
      if (failed) throw failed[0];
      const routed = added.length;
      logger.debug({ jobId: job.id, events: events.length, routed, duplicates }, 'notifications routed');
      for (const [event, destinations] of chosen ?? [])
        logger.debug({ eventId: event.id, callId: event.callId, destinations }, 'event routed');
      // The receiver validated each with the same code, so this takes a change of version; the job
      // stays in the failed set (the rest of it is routed) for a retry once that is fixed.
      if (unreadable.length > 0) throw new UnrecoverableError(unreadable.join('; '));
      return { routed, duplicates };
    }),
    {
      connection,
      prefix,
      concurrency: 50,
      // A fan-out job takes milliseconds (it only writes to Redis), so a short lock is safe and
      // lets the batch of a worker that died go back to the queue within seconds, not half a
      // minute (BullMQ's default). Should a stalled event loop let it expire, the job running
      // twice adds nothing: delivery job ids are deterministic.
      lockDuration: FANOUT_LOCK_MS,
      ...workerRecoveryOptions(config.workers.stalledIntervalMs),
    },
  );
  logWorkerEvents(worker, unrecorded, redis, logger, {
    lostLock:
      "a fan-out job's lock expired before it was done (Redis away, or this process stalled, for longer than the lock); it is routed again, and its delivery ids keep a second copy out",
    error: 'fan-out worker error',
    stalled: 'notifications taken back from a fan-out that stopped or lost its lock; routed again',
  });
  // Not awaited: a check for the operator, which must not hold up the start.
  void warnOfLeftBehindDeliveries(config, connection, logger).catch(() => {});
  const unwatch = watchQueues([ingest, ...routes.map((route) => route.queue)]);

  return {
    worker,
    async close() {
      unwatch();
      await closeWorker(worker, unrecorded, redis.up);
      await Promise.all([ingest.close(), ...routes.map((route) => route.queue.close())]);
      connection.disconnect();
      writes.redis.disconnect();
    },
  };
}

/**
 * A destination renamed or removed from the config leaves its queue behind, and the deliveries
 * still waiting there are never made: the fan-out, which routes to the configured ones, says so
 * when it starts (`npm run ledger` lists them too).
 */
async function warnOfLeftBehindDeliveries(config: ForwarderConfig, connection: Redis, logger: Logger) {
  for (const destination of await destinationsLeftBehind(connection, config)) {
    const queue = new Queue(destinationQueueName(destination), { connection, prefix: config.redis.prefix });
    try {
      const { pending } = await deliveryCounts(queue);
      if (pending > 0)
        logger.warn(
          { destination, pending },
          'deliveries wait for a destination that is no longer in the config; no worker will make them: put it back (npm run ledger lists them)',
        );
    } finally {
      await queue.close();
    }
  }
}
