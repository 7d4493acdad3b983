import { randomBytes } from 'node:crypto';
import { Job, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import * as v from 'valibot';
import type { RetentionConfig } from '../config/index.ts';
import { type CallEvent, normalise } from '../telecmi/index.ts';
import { GroupCommit } from './group-commit.ts';
import { JobWriteConnection, type JobWrites } from './job-writes.ts';
import { INGEST_QUEUE, seenKey } from './names.ts';

/**
 * One notification as the ingest queue keeps it: its fields exactly as received and when. The
 * canonical event is a pure function of the two ({@link eventOf}), so storing it as well would
 * only double what every write carries to Redis.
 */
export const IngestedNotification = v.object({
  /** The canonical event id, for de-duplication and for reading the queue. */
  id: v.string(),
  receivedAt: v.pipe(v.string(), v.isoTimestamp()),
  raw: v.record(v.string(), v.unknown()),
});
export type IngestedNotification = v.InferOutput<typeof IngestedNotification>;

/**
 * An ingest job: the notifications one group commit stored together (one, or those that arrived
 * while the previous write was in flight). A job that holds a single call event, as written before
 * group commits became jobs, still reads as one notification: the event carries the same fields.
 */
export const IngestJobData = v.union([
  v.object({ notifications: v.array(IngestedNotification) }),
  IngestedNotification,
]);
export type IngestJobData = v.InferOutput<typeof IngestJobData>;

/** The fan-out's answer, kept on the completed ingest job: which notifications were resends. */
export interface IngestJobResult {
  /** Delivery jobs added (one per notification and destination that wants it). */
  routed: number;
  /** Ids of notifications this job holds but an earlier job already had (skipped). */
  duplicates: string[];
}

/** The notifications of an ingest job, or a message naming what is wrong with its data. */
export function notificationsOf(data: unknown): IngestedNotification[] {
  const parsed = v.safeParse(IngestJobData, data);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new Error(`ingest job data: ${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`);
  }
  return 'notifications' in parsed.output ? parsed.output.notifications : [parsed.output];
}

/** The canonical call event of a stored notification, exactly as the receiver validated it. */
export function eventOf(notification: IngestedNotification): CallEvent {
  const result = normalise(notification.raw, new Date(notification.receivedAt));
  if (!result.ok) throw new Error(`notification ${notification.id}: ${result.error}`);
  return result.event;
}

export interface IngestResult {
  /** The id of the job that holds this notification (the first copy's, for a duplicate). */
  jobId: string;
  duplicate: boolean;
}

/** An ingest job's options: kept once fanned out as `retention` says (Bull Board, backfill). */
function ingestJobOptions(retention: RetentionConfig): JobsOptions {
  return {
    // The fan-out job only writes to Redis; it fails only while Redis does.
    attempts: 20,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: retention.ingestHours * 3600, count: retention.ingestMaxJobs },
    removeOnFail: false,
  };
}

/** A job holds at most this many notifications; more waiting go in the next write. */
const MAX_NOTIFICATIONS_PER_JOB = 100;

/** The ingest queue; the jobs the receiver writes take its default options. */
export function ingestQueue(
  connection: Redis,
  prefix: string,
  retention: RetentionConfig,
): Queue<IngestJobData> {
  return new Queue<IngestJobData>(INGEST_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: ingestJobOptions(retention),
  });
}

/**
 * Marks event ids as stored in job ARGV[1] for ARGV[2] ms, each only if not marked already; answers
 * per key 1 (marked now) or 0 (marked before). One command for the whole batch, inside the MULTI.
 */
const MARK_SEEN = `local marked = {}
for i, key in ipairs(KEYS) do
  marked[i] = redis.call('SET', key, ARGV[1], 'PX', ARGV[2], 'NX') and 1 or 0
end
return marked`;

/** Deletes the "seen" marks a failed write set, unless another write has set them since. */
const FORGET_SEEN = `for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end`;

interface SeenMarks {
  cdrfMarkSeen(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  cdrfForgetSeen(numberOfKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/**
 * Writes call events to the ingest queue, durably and once.
 *
 * Batching: while one write is in flight, the notifications that arrive are gathered and stored as
 * one job as soon as it returns, so concurrent requests share a round trip and a BullMQ add (one
 * Lua call per job, not per notification: that call is what costs Redis and the receiver most).
 *
 * Duplicates: a "seen" mark per event id (`SET NX` with the de-duplication window as TTL) names the
 * job that holds the first copy. Resends found marked are answered as duplicates without being
 * stored. The rest are marked and added in one MULTI, so a notification is never marked without
 * being stored; should two copies race past the check together, the MULTI's `SET NX` tells which
 * one lost, that one is answered as a duplicate, and the fan-out skips it (its mark names the other
 * job).
 *
 * It writes through a connection of its own, not the queue's: see {@link JobWriteConnection}.
 */
export class IngestWriter {
  readonly #queue: Queue<IngestJobData>;
  /** The queue's job options (retention), read once: BullMQ's getter copies them on every read. */
  readonly #jobOptions: JobsOptions;
  readonly #writes: JobWriteConnection;
  readonly #dedupeWindowMs: number;
  readonly #jobIdTag = randomBytes(4).toString('hex');
  #sequence = 0;
  readonly #commits = new GroupCommit<CallEvent, IngestResult>((events) => this.#store(events), {
    maxBatch: MAX_NOTIFICATIONS_PER_JOB,
  });

  /** `redis`: the connection the writes go through, not the one `queue` was made with. */
  constructor(queue: Queue<IngestJobData>, redis: Redis, options: { dedupeWindowMs: number }) {
    this.#queue = queue;
    this.#jobOptions = queue.defaultJobOptions;
    this.#writes = new JobWriteConnection(queue, redis);
    this.#dedupeWindowMs = options.dedupeWindowMs;
    redis.defineCommand('cdrfMarkSeen', { lua: MARK_SEEN });
    redis.defineCommand('cdrfForgetSeen', { lua: FORGET_SEEN });
  }

  write(event: CallEvent): Promise<IngestResult> {
    return this.#commits.submit(event);
  }

  async #store(events: CallEvent[]): Promise<IngestResult[]> {
    const prefix = this.#queue.opts.prefix ?? 'bull';
    const jobId = `${this.#jobIdTag}-${(this.#sequence++).toString(36)}`;

    const keys = events.map((event) => seenKey(prefix, event.id));
    const marks = await this.#writes.redis.mget(keys);
    const results: IngestResult[] = [];
    const fresh = new Map<string, { event: CallEvent; key: string }>();
    events.forEach((event, index) => {
      const mark = marks[index];
      // Marked: a resend of a stored notification. Twice in this batch: the first copy is stored.
      if (mark) results.push({ jobId: mark, duplicate: true });
      else if (fresh.has(event.id)) results.push({ jobId, duplicate: true });
      else {
        fresh.set(event.id, { event, key: keys[index] as string });
        results.push({ jobId, duplicate: false });
      }
    });
    if (fresh.size === 0) return results;

    const lostRace = await this.#add(jobId, [...fresh.values()]);
    events.forEach((event, index) => {
      if (lostRace.has(event.id)) results[index] = { jobId, duplicate: true };
    });
    return results;
  }

  /** Marks and stores the events as job `jobId`; returns the ids another write marked first. */
  async #add(jobId: string, fresh: { event: CallEvent; key: string }[]): Promise<Set<string>> {
    const keys = fresh.map(({ key }) => key);
    const data: IngestJobData = {
      notifications: fresh.map(({ event: { id, receivedAt, raw } }) => ({ id, receivedAt, raw })),
    };
    await this.#writes.ready();
    const multi = this.#writes.multi() as JobWrites & SeenMarks;
    multi.cdrfMarkSeen(keys.length, ...keys, jobId, this.#dedupeWindowMs);
    const job = new Job(this.#queue, 'notifications', data, this.#jobOptions, jobId);
    await job.addJob(multi);
    const replies = await multi.exec();
    // EXEC answers null when the transaction was discarded; a failed command leaves its reply an error.
    const [markError, marked] = replies?.[0] ?? [];
    const addReply = replies?.[1];
    if (!replies || !addReply || addReply[0]) {
      // The job is not stored: its marks must not turn the sender's retry into a "duplicate".
      await (this.#writes.redis as Redis & SeenMarks)
        .cdrfForgetSeen(keys.length, ...keys, jobId)
        .catch(() => {});
      throw addReply?.[0] ?? new Error('Redis discarded the ingest transaction');
    }
    // 0: the id was marked already: another write stored it in the meantime. (Should the marks
    // have failed alone, the job is stored unmarked: the fan-out delivers what has no mark.)
    if (markError || !Array.isArray(marked)) return new Set();
    return new Set(fresh.filter((_, index) => marked[index] === 0).map(({ event }) => event.id));
  }
}
