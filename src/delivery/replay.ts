import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventsOfCall } from '../queue/call-index.ts';
import { deliveryJobId } from '../queue/names.ts';
import type { CallEvent } from '../telecmi/index.ts';

/**
 * Which deliveries to replay: the dead ones (default), or those delivered, to send them again.
 * Times are when the delivery ended: its last failure, or its delivery.
 */
export interface ReplayCriteria {
  state?: ReplayState;
  since?: Date;
  until?: Date;
  /**
   * Inclusive range of the last HTTP status, e.g. [500, 599], or `none`: no HTTP answer (a time-out,
   * a refused connection, a failed OAuth token request); dead deliveries only.
   */
  status?: [number, number] | 'none';
  /** Only the events of these calls: call ids or conversation ids, as `npm run trace -- --call`. */
  calls?: string[];
}

/** Dead: BullMQ's failed set. Delivered: its completed set, as long as it keeps them. */
export type ReplayState = 'dead' | 'delivered';
const JOB_STATE = { dead: 'failed', delivered: 'completed' } as const;

export interface ReplayResult {
  matched: number;
  requeued: number;
  jobIds: string[];
}

/** The last HTTP status of a failed delivery, from its error ("HTTP 503: ..."). */
export function lastStatus(job: Pick<Job, 'failedReason'>): number | undefined {
  const match = /^HTTP (\d{3})\b/.exec(job.failedReason ?? '');
  return match ? Number(match[1]) : undefined;
}

/** `500-599`, `429`, `4xx`, or `none` (no HTTP answer). */
export function parseStatusRange(text: string): [number, number] | 'none' {
  if (text.trim().toLowerCase() === 'none') return 'none';
  const range = /^(\d{3})(?:-(\d{3}))?$/.exec(text.trim());
  if (range) {
    const low = Number(range[1]);
    const high = Number(range[2] ?? range[1]);
    if (low <= high) return [low, high];
  }
  const cls = /^([1-5])xx$/i.exec(text.trim());
  if (cls) return [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  throw new Error(
    `--status: expected a status, a range such as 500-599, a class such as 5xx, or none (no HTTP answer); got "${text}"`,
  );
}

function matches(job: Job, criteria: ReplayCriteria): boolean {
  const failedAt = job.finishedOn ?? job.processedOn ?? job.timestamp;
  if (criteria.since && failedAt < criteria.since.getTime()) return false;
  if (criteria.until && failedAt > criteria.until.getTime()) return false;
  if (criteria.status === 'none') return lastStatus(job) === undefined;
  if (criteria.status) {
    const status = lastStatus(job);
    if (status === undefined || status < criteria.status[0] || status > criteria.status[1]) return false;
  }
  return true;
}

const PAGE = 500;

/** A destination's queue, and a connection to read the call index with (`calls`). */
export interface ReplayTarget {
  queue: Queue<CallEvent>;
  destination: string;
  redis: Pick<Redis, 'zrange'>;
}

/**
 * Puts the matching dead (or delivered) deliveries of one destination back in its queue with a
 * fresh set of attempts. Their job ids, and so the `webhook-id` and the warehouse key, stay the
 * same: a replay of something that did arrive after all is recognised by the other side.
 */
export async function replayDeliveries(
  target: ReplayTarget,
  criteria: ReplayCriteria,
  options: { dryRun: boolean },
): Promise<ReplayResult> {
  // Collect first, then retry: retrying while paging would shift the pages under our feet.
  const { queue } = target;
  const state = JOB_STATE[criteria.state ?? 'dead'];
  const selected: Job<CallEvent>[] = [];
  if (criteria.calls) {
    for (const job of await deliveriesOfCalls(target, criteria.calls))
      if ((await job.getState()) === state && matches(job, criteria)) selected.push(job);
  } else {
    for (let start = 0; ; start += PAGE) {
      const page = await queue.getJobs([state], start, start + PAGE - 1);
      selected.push(...page.filter((job) => job && matches(job, criteria)));
      if (page.length < PAGE) break;
    }
  }
  let requeued = 0;
  if (!options.dryRun) {
    for (const job of selected) {
      // The attempts start again: the job's log keeps what it was (trace and the dashboard show it).
      await job.log(replayNote(job, criteria.state ?? 'dead'));
      await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
      requeued += 1;
    }
  }
  return { matched: selected.length, requeued, jobIds: selected.map((job) => job.id as string) };
}

/** The line a replay adds to a delivery's log: `replayed at …: it was dead after 3 attempts: HTTP 503: …`. */
const REPLAY_NOTE = 'replayed at ';

/** What a delivery was before a replay, from a line of its log; undefined for any other line. */
export function replayedFrom(logLine: string): string | undefined {
  if (!logLine.startsWith(REPLAY_NOTE)) return undefined;
  return logLine.slice(logLine.indexOf(': ') + 2);
}

function replayNote(job: Job, state: ReplayState): string {
  const attempts = `${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}`;
  const was =
    state === 'dead' ? `dead after ${attempts}: ${job.failedReason}` : `delivered after ${attempts}`;
  return `${REPLAY_NOTE}${new Date().toISOString()}: it was ${was}`;
}

/** The deliveries to `destination` of the events of `calls` that its queue still holds, once each. */
async function deliveriesOfCalls(
  { queue, destination, redis }: ReplayTarget,
  calls: readonly string[],
): Promise<Job<CallEvent>[]> {
  const prefix = queue.opts.prefix ?? 'bull';
  const eventIds = new Set<string>();
  for (const call of calls) for (const id of await eventsOfCall(redis, prefix, call)) eventIds.add(id);
  const jobs: Job<CallEvent>[] = [];
  for (const eventId of eventIds) {
    const job = await queue.getJob(deliveryJobId(eventId, destination));
    if (job) jobs.push(job);
  }
  return jobs;
}
