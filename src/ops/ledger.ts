import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig, RetentionConfig } from '../config/index.ts';
import { compileFilter } from '../fanout/filter.ts';
import { readCleans } from '../queue/cleaned.ts';
import { deliveryCounts, jobsIn, PENDING_STATES } from '../queue/delivery-counts.ts';
import { eventOf, type IngestJobData, type IngestJobResult, notificationsOf } from '../queue/ingest.ts';
import { deliveryJobId, destinationQueueName, destinationsLeftBehind, INGEST_QUEUE } from '../queue/names.ts';

export interface DestinationLedger {
  name: string;
  /** Jobs in its queue, whatever their state. */
  routed: number;
  delivered: number;
  dead: number;
  /** Waiting, delayed (a retry), active. */
  pending: number;
  /** Fanned-out events its filter takes that have no job in its queue: must be 0. */
  missing: number;
  /**
   * Fanned-out events it takes whose job is gone but may have been delivered and then trimmed
   * (`retention`: older than `deliveredDays`, or before the oldest of the `deliveredMax` kept).
   */
  trimmed: number;
  /** Fanned-out events it takes whose job was removed by hand (the queue dashboard's clean). */
  cleaned: number;
}

/** The queue of a destination no longer in the config: what it still holds. */
export interface OrphanQueue {
  destination: string;
  /** Waiting, delayed or active: no worker will deliver them. */
  pending: number;
  delivered: number;
  dead: number;
}

export interface Ledger {
  /** Every event acknowledged and still on record: in the ingest queue or the spool. */
  received: number;
  spooled: number;
  fannedOut: number;
  awaitingFanout: number;
  fanoutFailed: number;
  destinations: DestinationLedger[];
  orphans: OrphanQueue[];
  /** Everything received is delivered, dead, pending or spooled, and nothing waits in an orphan queue. */
  balanced: boolean;
}

const PAGE = 1000;

/**
 * The books of the forwarder, from Redis itself: every event the ingest queue holds is checked
 * against every destination whose filter takes it. Jobs are kept after they finish as `retention`
 * says (by default ingest 24 h, deliveries 7 days), so the ledger speaks for the ingest jobs kept:
 * by default the last day of traffic.
 */
export async function readLedger(
  config: ForwarderConfig,
  connection: Redis,
  queueFor: (name: string) => Queue,
  spooled: number,
): Promise<Ledger> {
  const ingest = queueFor(INGEST_QUEUE) as Queue<IngestJobData, IngestJobResult | undefined>;
  const routes = config.destinations.map((destination) => ({
    name: destination.name,
    wants: compileFilter(destination.filter),
    queue: queueFor(destinationQueueName(destination.name)),
    expected: [] as { jobId: string; receivedAt: number }[],
  }));

  // Counted per notification: an ingest job holds those of one group commit.
  let awaitingFanout = 0;
  for await (const job of jobsIn(ingest, PENDING_STATES)) awaitingFanout += notificationsOf(job.data).length;
  let fanoutFailed = 0;
  for await (const job of jobsIn(ingest, ['failed'])) fanoutFailed += notificationsOf(job.data).length;
  let fannedOut = 0;
  for await (const job of jobsIn(ingest, ['completed'])) {
    // A resend that raced its first copy into the queue is skipped by the fan-out: not counted twice.
    const duplicates = new Set(job.returnvalue?.duplicates ?? []);
    for (const notification of notificationsOf(job.data)) {
      if (duplicates.has(notification.id)) continue;
      fannedOut += 1;
      const event = eventOf(notification);
      for (const route of routes)
        if (route.wants(event))
          route.expected.push({
            jobId: deliveryJobId(event.id, route.name),
            receivedAt: Date.parse(event.receivedAt),
          });
    }
  }

  const destinations: DestinationLedger[] = [];
  for (const route of routes) {
    const { pending, delivered, dead } = await deliveryCounts(route.queue);
    const gone = await jobsGone(connection, `${config.redis.prefix}:${route.queue.name}:`, route.expected);
    const cleans = await readCleans(connection, config.redis.prefix, route.queue.name);
    // Below deliveredMax now, the set may still have been full before a clean took some away.
    const cleanedAny = cleans.stateCleanedAt > 0 || cleans.jobs.size > 0;
    const horizon = await trimHorizon(route.queue, delivered, config.retention, cleanedAny);
    let trimmed = 0;
    let cleaned = 0;
    for (const { jobId, receivedAt } of gone) {
      if (receivedAt < horizon) trimmed += 1;
      // A job finished before a clean of its state, or removed alone, was received before that.
      else if (receivedAt < cleans.stateCleanedAt || cleans.jobs.has(jobId)) cleaned += 1;
    }
    destinations.push({
      name: route.name,
      routed: delivered + dead + pending,
      delivered,
      dead,
      pending,
      missing: gone.length - trimmed - cleaned,
      trimmed,
      cleaned,
    });
  }
  const orphans: OrphanQueue[] = [];
  for (const destination of await destinationsLeftBehind(connection, config)) {
    const orphan = { destination, ...(await deliveryCounts(queueFor(destinationQueueName(destination)))) };
    // A queue left with no job (BullMQ keeps its settings key) has nothing to say.
    if (orphan.pending + orphan.delivered + orphan.dead > 0) orphans.push(orphan);
  }
  const received = fannedOut + awaitingFanout + fanoutFailed + spooled;
  return {
    received,
    spooled,
    fannedOut,
    awaitingFanout,
    fanoutFailed,
    destinations,
    orphans,
    balanced:
      fanoutFailed === 0 &&
      destinations.every((destination) => destination.missing === 0) &&
      orphans.every((orphan) => orphan.pending === 0),
  };
}

/** The expected jobs that are not in Redis. */
async function jobsGone<T extends { jobId: string }>(
  connection: Redis,
  keyPrefix: string,
  expected: T[],
): Promise<T[]> {
  const gone: T[] = [];
  for (let start = 0; start < expected.length; start += PAGE) {
    const page = expected.slice(start, start + PAGE);
    const pipeline = connection.pipeline();
    for (const { jobId } of page) pipeline.exists(`${keyPrefix}${jobId}`);
    const replies = (await pipeline.exec()) ?? [];
    page.forEach((job, index) => {
      const [error, exists] = replies[index] ?? [];
      if (error || exists === 0) gone.push(job);
    });
  }
  return gone;
}

/**
 * Before this time (ms), a delivery with no job may have been delivered and trimmed since: BullMQ
 * trims the delivered set as each job finishes, the jobs older than `deliveredDays` and, once the
 * set holds `deliveredMax`, the oldest. A trimmed job finished before the oldest one kept, so the
 * event it delivered was received before that too.
 */
async function trimHorizon(
  queue: Queue,
  completed: number,
  retention: RetentionConfig,
  mayHaveBeenFull: boolean,
): Promise<number> {
  const byAge = Date.now() - retention.deliveredDays * 24 * 3600 * 1000;
  if (completed < retention.deliveredMax && !mayHaveBeenFull) return byAge;
  const [oldestKept] = await queue.getJobs(['completed'], 0, 0, true);
  return Math.max(byAge, oldestKept?.finishedOn ?? 0);
}

export function formatLedger(ledger: Ledger): string {
  const lines = [
    `received ${ledger.received}: fanned out ${ledger.fannedOut}, awaiting fan-out ${ledger.awaitingFanout}, ` +
      `fan-out failed ${ledger.fanoutFailed}, in the spool ${ledger.spooled}`,
    '',
    `${'destination'.padEnd(20)} ${'routed'.padStart(8)} ${'delivered'.padStart(10)} ${'dead'.padStart(6)} ${'pending'.padStart(8)} ${'missing'.padStart(8)} ${'trimmed'.padStart(8)} ${'cleaned'.padStart(8)}`,
    ...ledger.destinations.map(
      (d) =>
        `${d.name.padEnd(20)} ${String(d.routed).padStart(8)} ${String(d.delivered).padStart(10)} ${String(d.dead).padStart(6)} ${String(d.pending).padStart(8)} ${String(d.missing).padStart(8)} ${String(d.trimmed).padStart(8)} ${String(d.cleaned).padStart(8)}`,
    ),
    ...ledger.orphans.map(
      (o) =>
        `${o.destination}: not in the config, its queue holds ${o.pending} pending, ${o.dead} dead, ${o.delivered} delivered` +
        (o.pending > 0
          ? ` (no worker delivers them: put it back in the config, or give them up: npm run drop-queue -- --destination ${o.destination})`
          : ''),
    ),
    '',
    ledger.balanced
      ? 'balanced: every received event is delivered, dead, pending or still in the spool'
      : 'NOT balanced: some received events reached no destination that wants them (see "missing", "fan-out failed" and destinations not in the config; a destination added or widened later: npm run backfill -- --destination NAME)',
  ];
  return lines.join('\n');
}
