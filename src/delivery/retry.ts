import type { JobsOptions } from 'bullmq';
import { MAX_RETRY_ATTEMPTS, type RetentionConfig, type RetryConfig } from '../config/index.ts';
import { DeliveryError } from '../destinations/types.ts';

/** The name of our back-off strategy in job options; the delivery worker implements it. */
export const BACKOFF_TYPE = 'delivery';

/**
 * The attempts a delivery job is made with: as many as any config allows. The destination's worker
 * ends it after its own `retry.attempts` ({@link attemptsOf}), so that a destination's retry policy
 * is the one of the processes that run it, not of the fan-out that made the job (an older config,
 * in another process).
 */
const JOB_ATTEMPTS = MAX_RETRY_ATTEMPTS;

/** How many attempts a delivery job gets: the destination's, or fewer if the job was made so. */
export function attemptsOf(job: { opts: { attempts?: number } }, retry: RetryConfig): number {
  return Math.min(job.opts.attempts ?? 1, retry.attempts);
}

/**
 * A delivery job's options: the back-off of the destination's worker, and how long it is kept once
 * delivered (visible in Bull Board, and guarding against a repeated fan-out).
 */
export function deliveryJobOptions(retention: RetentionConfig): JobsOptions {
  return {
    attempts: JOB_ATTEMPTS,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { age: retention.deliveredDays * 24 * 3600, count: retention.deliveredMax },
    // A job out of attempts stays in the failed set with its last error: the dead-letter queue.
    removeOnFail: false,
  };
}

/**
 * The wait before the next attempt: "full jitter" (a random delay up to the exponential or fixed
 * ceiling, so that retries of many failed deliveries spread out instead of arriving together),
 * never below the other side's Retry-After, never above `maxDelayMs`.
 */
export function retryDelayMs(
  retry: RetryConfig,
  attemptsMade: number,
  error: unknown,
  random = Math.random,
): number {
  const ceiling =
    retry.backoff === 'fixed' ? retry.delayMs : retry.delayMs * 2 ** Math.max(0, attemptsMade - 1);
  let delay = random() * Math.min(ceiling, retry.maxDelayMs);
  if (error instanceof DeliveryError && error.retryAfterMs !== undefined) {
    delay = Math.max(delay, Math.min(error.retryAfterMs, retry.maxDelayMs));
  }
  return Math.round(delay);
}
