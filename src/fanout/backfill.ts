import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';
import { ALL_STATES, jobsIn } from '../queue/delivery-counts.ts';
import { eventOf, type IngestJobData, ingestQueue, notificationsOf } from '../queue/ingest.ts';
import { destinationQueueName, destinationsLeftBehind } from '../queue/names.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { deliveryJobOf, type Route, routeOf } from './route.ts';

/**
 * Backfill: gives a destination the events Redis still keeps that it wants and has no delivery
 * of: a destination added after they came in, renamed, or whose filter was widened. Redis keeps
 * each event in its ingest job (a day) and in every delivery of it (a week, at most the last
 * 100,000 per destination), in the queue a renamed or removed destination left behind too. The deliveries added are the fan-out's own (same id, options and data), so a
 * backfill run twice, or racing the fan-out, adds each at most once.
 */

/** Which events: received from `since` to `until` (inclusive). */
export interface BackfillCriteria {
  since?: Date;
  until?: Date;
}

export interface BackfillResult {
  /** Kept events the destination's filter takes, within the times. */
  wanted: number;
  /** Of those, the ones without a delivery to it. */
  missing: number;
  /** Deliveries added (0 on a dry run). */
  added: number;
}

/** Deliveries checked and added per round trip. */
const BATCH = 500;

export async function backfill(
  config: ForwarderConfig,
  connection: Redis,
  destination: string,
  criteria: BackfillCriteria,
  options: { dryRun: boolean },
): Promise<BackfillResult> {
  const target = config.destinations.find((d) => d.name === destination);
  if (!target) throw new Error(`unknown destination "${destination}"`);
  const prefix = config.redis.prefix;
  // Looked up before any queue is made: should the scan fail, there is nothing to close.
  const leftBehind = await destinationsLeftBehind(connection, config);
  const route = routeOf(config, target, connection);
  // Where the events are read from: the ingest queue, every other destination's queue, and the
  // queues left behind by destinations renamed or removed (a renamed one's events, for its new name).
  const deliveries = (queue: Queue): Source => ({ queue, eventsOf: (job) => [job.data] });
  const sources: Source[] = [
    {
      queue: ingestQueue(connection, prefix, config.retention),
      eventsOf: (job) => ingestedEvents(job.data as IngestJobData),
    },
    ...config.destinations
      .filter((d) => d.name !== destination)
      .map((d) => deliveries(routeOf(config, d, connection).queue)),
    ...leftBehind.map((name) => deliveries(new Queue(destinationQueueName(name), { connection, prefix }))),
  ];
  const result: BackfillResult = { wanted: 0, missing: 0, added: 0 };
  const seen = new Set<string>();
  let batch: CallEvent[] = [];
  const flush = async () => {
    const { missing, added } = await addMissing(route, connection, batch, options.dryRun);
    result.missing += missing;
    result.added += added;
    batch = [];
  };
  try {
    for (const source of sources) {
      for await (const event of eventsIn(source)) {
        if (seen.has(event.id)) continue;
        seen.add(event.id);
        if (!inTimes(event, criteria) || !route.wants(event)) continue;
        result.wanted += 1;
        batch.push(event);
        if (batch.length >= BATCH) await flush();
      }
    }
    if (batch.length > 0) await flush();
  } finally {
    await Promise.all([route.queue.close(), ...sources.map(({ queue }) => queue.close())]);
  }
  return result;
}

function inTimes(event: CallEvent, { since, until }: BackfillCriteria): boolean {
  const at = Date.parse(event.receivedAt);
  return !(since && at < since.getTime()) && !(until && at > until.getTime());
}

/** A queue whose jobs hold events, and how to read them out of a job. */
interface Source {
  queue: Queue;
  eventsOf: (job: Job) => Iterable<CallEvent>;
}

/** The events of a queue's jobs, in every state: an event is kept whatever became of its delivery. */
async function* eventsIn({ queue, eventsOf }: Source): AsyncGenerator<CallEvent> {
  for await (const job of jobsIn(queue, ALL_STATES)) yield* eventsOf(job);
}

/**
 * The readable events of an ingest job. One the receiver could not have written is skipped: the
 * fan-out fails such a job, and keeps it with the reason.
 */
function* ingestedEvents(data: IngestJobData): Generator<CallEvent> {
  let notifications: ReturnType<typeof notificationsOf>;
  try {
    notifications = notificationsOf(data);
  } catch {
    return;
  }
  for (const notification of notifications) {
    try {
      yield eventOf(notification);
    } catch {
      // skipped, as above
    }
  }
}

/** Adds the deliveries of `events` that the route's queue does not hold. */
async function addMissing(
  route: Route,
  connection: Redis,
  events: CallEvent[],
  dryRun: boolean,
): Promise<{ missing: number; added: number }> {
  const jobs = events.map((event) => deliveryJobOf(route, event));
  const check = connection.pipeline();
  for (const job of jobs) check.exists(route.queue.toKey(job.opts.jobId));
  const exists = (await check.exec()) ?? [];
  const missing = jobs.filter((_, index) => exists[index]?.[1] === 0);
  if (!dryRun && missing.length > 0) await route.queue.addBulk(missing);
  return { missing: missing.length, added: dryRun ? 0 : missing.length };
}
