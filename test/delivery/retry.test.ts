import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { RetryConfig } from '../../src/config/index.ts';
import { retryDelayMs } from '../../src/delivery/retry.ts';
import { DeliveryError } from '../../src/destinations/types.ts';

const defaults = v.parse(RetryConfig, {});
// The ceiling itself: full jitter draws from [0, ceiling].
const top = () => 1;

describe('retry delays', () => {
  it('defaults reach from seconds to hours, about a day in all', () => {
    const ceilings = Array.from({ length: defaults.attempts - 1 }, (_, i) =>
      retryDelayMs(defaults, i + 1, null, top),
    );
    expect(ceilings[0]).toBeGreaterThanOrEqual(4_999);
    expect(ceilings[0]).toBeLessThanOrEqual(5_000);
    expect(Math.max(...ceilings)).toBe(defaults.maxDelayMs);
    const total = ceilings.reduce((sum, delay) => sum + delay, 0);
    expect(total / 3_600_000).toBeGreaterThan(20);
    expect(total / 3_600_000).toBeLessThan(30);
  });

  it('full jitter: anywhere from 0 to the exponential ceiling', () => {
    const retry = v.parse(RetryConfig, { delayMs: 1000 });
    expect(retryDelayMs(retry, 3, null, () => 0)).toBe(0);
    expect(retryDelayMs(retry, 3, null, () => 0.5)).toBe(2000);
    const spread = new Set(Array.from({ length: 50 }, () => retryDelayMs(retry, 4, null)));
    expect(spread.size).toBeGreaterThan(10);
    for (const delay of spread) expect(delay).toBeLessThanOrEqual(8000);
  });

  it('fixed back-off keeps the same ceiling', () => {
    const retry = v.parse(RetryConfig, { backoff: 'fixed', delayMs: 1000 });
    expect(retryDelayMs(retry, 1, null, top)).toBe(retryDelayMs(retry, 9, null, top));
  });

  it('never waits less than Retry-After, never more than maxDelayMs', () => {
    const retry = v.parse(RetryConfig, { delayMs: 100, maxDelayMs: 60_000 });
    const polite = new DeliveryError('HTTP 429: slow down', {
      retryable: true,
      status: 429,
      retryAfterMs: 30_000,
    });
    expect(retryDelayMs(retry, 1, polite, () => 0)).toBe(30_000);
    const greedy = new DeliveryError('HTTP 503: later', {
      retryable: true,
      status: 503,
      retryAfterMs: 3_600_000,
    });
    expect(retryDelayMs(retry, 1, greedy, () => 0)).toBe(60_000);
  });
});
