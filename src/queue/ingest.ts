import { randomBytes } from 'node:crypto';
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CallEvent } from '../telecmi/index.ts';
import { GroupCommit } from './group-commit.ts';
import { INGEST_QUEUE } from './names.ts';

export interface IngestResult {
  /** The id of the job that holds this event (the first one's, for a duplicate). */
  jobId: string;
  duplicate: boolean;
}

export interface IngestOptions {
  prefix: string;
  /** A resend within this window is recognised as a duplicate and not queued again. */
  dedupeWindowMs: number;
}

/** How long finished ingest jobs stay visible (Bull Board) before BullMQ trims them. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 10_000 };

export function ingestQueue(connection: Redis, prefix: string): Queue<CallEvent> {
  return new Queue<CallEvent>(INGEST_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      // The fan-out job only writes to Redis; it fails only while Redis does.
      attempts: 20,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: false,
    },
  });
}

interface Pending {
  event: CallEvent;
  jobId: string;
}

/**
 * Writes call events to the ingest queue, durably and once.
 *
 * Duplicates: BullMQ's deduplication (a key per event id with a TTL, set inside the same Lua script
 * that adds the job, so there is no window between "seen" and "stored") turns a resend into a no-op.
 * Each write uses a fresh job id; when BullMQ answers with another id, that id is the first copy's,
 * which is how a duplicate is told apart from a new job in the same round trip.
 *
 * Batching: while one write is in flight, the events that arrive are gathered and sent together
 * with `addBulk` (one MULTI) as soon as it returns, so concurrent requests share round trips.
 */
export class IngestWriter {
  readonly #queue: Queue<CallEvent>;
  readonly #dedupeWindowMs: number;
  readonly #jobIdTag = randomBytes(4).toString('hex');
  #sequence = 0;
  readonly #commits = new GroupCommit<Pending, IngestResult>(async (batch) => {
    const ids = await this.#add(batch);
    return batch.map((item, index) => {
      const jobId = ids[index] ?? item.jobId;
      return { jobId, duplicate: jobId !== item.jobId };
    });
  });

  constructor(queue: Queue<CallEvent>, options: Pick<IngestOptions, 'dedupeWindowMs'>) {
    this.#queue = queue;
    this.#dedupeWindowMs = options.dedupeWindowMs;
  }

  write(event: CallEvent): Promise<IngestResult> {
    return this.#commits.submit({
      event,
      jobId: `${event.id}-${this.#jobIdTag}${(this.#sequence++).toString(36)}`,
    });
  }

  async #add(batch: Pending[]): Promise<(string | undefined)[]> {
    if (batch.length === 1) {
      const [item] = batch as [Pending];
      const job = await this.#queue.add(item.event.kind, item.event, this.#optionsFor(item));
      return [job.id];
    }
    const jobs = await this.#queue.addBulk(
      batch.map((item) => ({ name: item.event.kind, data: item.event, opts: this.#optionsFor(item) })),
    );
    return jobs.map((job) => job.id);
  }

  #optionsFor(item: Pending): JobsOptions {
    return { jobId: item.jobId, deduplication: { id: item.event.id, ttl: this.#dedupeWindowMs } };
  }
}
