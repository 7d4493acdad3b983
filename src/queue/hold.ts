import type { Queue, RateLimiterOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * A destination's hold: until when no worker, in any process, takes its deliveries. A destination
 * asks for one with a `Retry-After` on a 429 or 503; its circuit breaker sets one when it keeps
 * failing.
 *
 * The hold is BullMQ's own rate-limit key of the destination's queue, set as BullMQ's
 * `queue.rateLimit()` sets it (a count no limit can reach, expiring when the hold ends): every
 * worker already reads that key before it takes a job, so a hold costs nothing while there is none,
 * needs no polling, and cannot outlive its time even if the process that set it dies.
 */

/** What the rate-limit key holds during a hold: above any `max`, as in BullMQ's `rateLimit()`. */
const HOLD_COUNT = Number.MAX_SAFE_INTEGER;

/**
 * BullMQ reads the rate-limit key only for workers that have a limiter. A destination without a
 * `rateLimit` gets this one, which counts jobs but never limits them on its own (a billion per
 * second), so that its workers still see a hold.
 */
export const HOLD_ONLY_LIMITER: RateLimiterOptions = { max: 1_000_000_000, duration: 1_000 };

// Never shortens a hold: of two answers at once, the longer wait wins.
const EXTEND_HOLD = `
local count = tonumber(redis.call('GET', KEYS[1]) or 0)
if count >= tonumber(ARGV[1]) and redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** Holds the queue's deliveries for `ms` from now, unless a longer hold is already on. */
export async function holdQueue(redis: Redis, queue: Queue, ms: number): Promise<void> {
  await redis.eval(EXTEND_HOLD, 1, queue.toKey('limiter'), HOLD_COUNT, Math.max(1, Math.ceil(ms)));
}

/** How long the queue's hold has left, in ms; 0 when there is none (a rate limit is not a hold). */
export function queueHoldMs(queue: Queue): Promise<number> {
  // BullMQ answers the key's time to live only when its count reaches the `max` given.
  return queue.getRateLimitTtl(HOLD_COUNT);
}
