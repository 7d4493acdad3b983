import { DelayedError, type Job, type Worker } from 'bullmq';
import type { Logger } from '../ops/logger.ts';

/**
 * The jobs a worker has taken whose result is not yet recorded in Redis, so that a worker told to
 * stop while Redis is away waits for exactly those.
 *
 * Why: BullMQ's close waits for its blocking connection to end, which ioredis never ends between
 * two reconnects, so a close during an outage hung until the shutdown deadline. Closing with
 * `force` does not hang, but drops the results still to be recorded: a delivery made would be left
 * active, and made again once its lock expired. So: stop taking jobs, wait until what was taken is
 * recorded (Redis is back) or the process's deadline passes, then close with `force`.
 */
/** The socket errors of a Redis that cannot be reached, as ioredis passes them on. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Whether a worker's error is Redis being out of reach. A BullMQ worker blocks on a connection of
 * its own, which may notice the loss before the watched one does: that is the same loss, which
 * the watch on its connection (`watchConnection`) reports once, not a worker error.
 */
export function isConnectionError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    (code !== undefined && CONNECTION_ERROR_CODES.has(code)) || error.message === 'Connection is closed.'
  );
}

/**
 * For a worker's errors: the id of a job whose lock the worker found gone when it came to record
 * the job's result, since the lock expired first (Redis was away, or the process stalled, for
 * longer than the lock). The job is not lost: it is taken up again like the job of a worker that
 * died. `first`: BullMQ reports it for the result, then again for the failure it makes of that.
 */
function lostLocks(): (error: Error) => { jobId: string; first: boolean } | undefined {
  const told = new Set<string>();
  return (error) => {
    const jobId = /^Missing lock for job (\S+)\./.exec(error.message)?.[1];
    if (jobId === undefined) return undefined;
    const first = !told.has(jobId);
    told.add(jobId);
    // The last thousand are enough to tell a repeat; the set does not grow for ever.
    if (told.size > 1000) told.delete(told.values().next().value as string);
    return { jobId, first };
  };
}

export class UnrecordedJobs {
  readonly #ids = new Set<string>();

  /** The processor, noting each job it takes. */
  track<Data, Result>(
    processor: (job: Job<Data, Result>, token?: string) => Promise<Result>,
  ): (job: Job<Data, Result>, token?: string) => Promise<Result> {
    return async (job, token) => {
      this.#ids.add(job.id as string);
      try {
        return await processor(job, token);
      } catch (error) {
        // Put back to wait out a hold: the processor recorded that itself (moveToDelayed).
        if (error instanceof DelayedError) this.#ids.delete(job.id as string);
        throw error;
      }
    };
  }

  /** Forgets what `worker` recorded: BullMQ says so once a result is in Redis. */
  watch(worker: Worker): void {
    worker.on('completed', (job) => this.#ids.delete(job.id as string));
    worker.on('failed', (job) => {
      if (job) this.#ids.delete(job.id as string);
    });
  }

  /** A job whose lock expired first: its result will never be recorded here (it goes again). */
  forget(jobId: string): void {
    this.#ids.delete(jobId);
  }

  get size(): number {
    return this.#ids.size;
  }
}

/**
 * Closes `worker`: at once when Redis is up (BullMQ waits for the jobs in flight); while it is away,
 * once the jobs taken are recorded (see {@link UnrecordedJobs}). The process's shutdown deadline
 * bounds the wait either way.
 */
export async function closeWorker(
  worker: Worker,
  unrecorded: UnrecordedJobs,
  redisUp: boolean,
): Promise<void> {
  if (redisUp) return worker.close();
  // Stops taking jobs; touches no connection.
  await worker.pause(true);
  while (unrecorded.size > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  await worker.close(true);
}

/** What a worker says of its own events, in the words of its jobs. */
export interface WorkerMessages {
  /** A job's lock expired before its result was recorded. */
  lostLock: string;
  /** Any other error of the worker's (not Redis out of reach, which its connection tells once). */
  error: string;
  /** A job taken back from a worker that stopped or lost its lock. */
  stalled: string;
}

/**
 * Logs a worker's events: a lost lock once per job (and forgets that job: its result will never be
 * recorded here), its errors but a lost Redis, and the jobs it takes back.
 */
export function logWorkerEvents(
  worker: Worker,
  unrecorded: UnrecordedJobs,
  redis: { readonly up: boolean },
  logger: Logger,
  messages: WorkerMessages,
): void {
  unrecorded.watch(worker);
  const lostLock = lostLocks();
  worker.on('error', (error) => {
    const lost = lostLock(error);
    if (lost) {
      unrecorded.forget(lost.jobId);
      if (lost.first) logger.warn({ jobId: lost.jobId }, messages.lostLock);
    } else if (redis.up && !isConnectionError(error)) logger.warn({ error: error.message }, messages.error);
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, messages.stalled));
}
