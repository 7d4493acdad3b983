import type { Logger } from '../ops/logger.ts';
import type { CallEvent } from '../telecmi/index.ts';

/**
 * The one interface every destination type implements. A destination knows how to hand one call
 * event to one system; queues, retries, rate limits and dead letters are the delivery worker's job.
 */
export interface Destination {
  /**
   * Delivers one event. Resolves once the event is safely in the other system; throws a
   * `DeliveryError` saying whether a retry can help. Called concurrently (`concurrency`), and again
   * for the same event after a failure, so it must be idempotent on `event.id`. An HTTP-based
   * destination resolves with the answer's status (for the metrics' `status_class`).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: postgres and file resolve with nothing (`Promise<void>`)
  deliver(event: CallEvent, context: DeliveryContext): Promise<DeliveryReceipt | void>;
  /** Flushes what is buffered and releases connections. */
  close(): Promise<void>;
}

export interface DeliveryReceipt {
  /** The HTTP status the other side answered with. */
  status?: number;
}

export interface DeliveryContext {
  /** 1 for the first attempt. */
  attempt: number;
  logger: Logger;
}

/** What a destination type contributes: its defaults and how to build one from its config. */
export interface DestinationType<TConfig> {
  /** The longest one `deliver` call may take: the worker's job lock outlasts it. */
  timeoutMs(config: TConfig): number;
  /** Deliveries in flight per worker process when the config does not say. */
  defaultConcurrency(config: TConfig): number;
  /** The rate limit when the config does not say (Slack: one message per second). */
  defaultRateLimit?: { max: number; perMs: number };
  create(config: TConfig, logger: Logger): Destination;
}

/**
 * A failed delivery. `retryable: false` fails the job at once (a 4xx other than 408/425/429: the
 * request itself is wrong and will not get better); otherwise it is retried with back-off, not
 * earlier than `retryAfterMs` when the other side said so. `held`: the delivery did not fail on its
 * own (it waited on another's request, which failed): it goes back to wait out `retryAfterMs`
 * without spending an attempt.
 */
export class DeliveryError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly held: boolean;

  constructor(
    message: string,
    options: { retryable: boolean; status?: number; retryAfterMs?: number; held?: boolean; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = 'DeliveryError';
    this.retryable = options.retryable;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.held = options.held ?? false;
  }
}
