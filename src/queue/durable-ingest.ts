import type { Redis } from 'ioredis';
import type { Logger } from '../ops/logger.ts';
import type { CallEvent } from '../telecmi/index.ts';
import type { IngestResult, IngestWriter } from './ingest.ts';
import type { Spool } from './spool.ts';

export interface DurableResult extends IngestResult {
  /** Stored in the local spool (Redis was unavailable); it reaches the queue once Redis is back. */
  spooled: boolean;
}

/** How often a non-empty spool is retried while Redis stays up (the drain also runs on reconnect). */
const DRAIN_EVERY_MS = 2_000;

/**
 * Where an acknowledged notification is kept: the ingest queue, or when Redis cannot take it, the
 * local spool. Only when both fail does `write` throw, and the receiver answers 503: a 200 always
 * means the record is stored somewhere that survives a restart.
 */
export class DurableIngest {
  readonly #writer: IngestWriter;
  readonly #spool: Spool;
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #onDuplicates: (count: number) => void;
  #draining: Promise<number> | undefined;

  /**
   * `onDuplicates`: told how many drained notifications turned out to be resends of stored ones
   * (answered `duplicate: false` while Redis could not tell), for the receiver's count.
   */
  constructor(
    writer: IngestWriter,
    spool: Spool,
    redis: Redis,
    logger: Logger,
    onDuplicates: (count: number) => void = () => {},
  ) {
    this.#writer = writer;
    this.#spool = spool;
    this.#redis = redis;
    this.#logger = logger;
    this.#onDuplicates = onDuplicates;
    redis.on('ready', () => void this.drain());
    this.#timer = setInterval(() => void this.drain(), DRAIN_EVERY_MS);
    this.#timer.unref();
  }

  get spoolDepth(): number {
    return this.#spool.depth;
  }

  async write(event: CallEvent): Promise<DurableResult> {
    if (this.#redis.status === 'ready') {
      try {
        return { ...(await this.#writer.write(event)), spooled: false };
      } catch (error) {
        this.#logger.warn(
          { eventId: event.id, error: (error as Error).message },
          'queue write failed; spooling',
        );
      }
    }
    const { duplicate } = await this.#spool.append(event);
    return { jobId: event.id, duplicate, spooled: true };
  }

  /**
   * Moves what the spool holds into the ingest queue, when there is something and Redis is up. A
   * call while a drain runs (Redis's return and the timer) shares it, and it is reported once.
   */
  drain(): Promise<number> {
    this.#draining ??= this.#drainOnce().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drainOnce(): Promise<number> {
    if (this.#spool.depth === 0 || this.#redis.status !== 'ready') return 0;
    try {
      let duplicates = 0;
      const moved = await this.#spool.drain(async (events) => {
        const results = await Promise.all(events.map((event) => this.#writer.write(event)));
        duplicates += results.filter((result) => result.duplicate).length;
      });
      if (duplicates > 0) this.#onDuplicates(duplicates);
      if (moved > 0) this.#logger.info({ events: moved, duplicates }, 'spool drained into the queue');
      return moved;
    } catch (error) {
      this.#logger.warn(
        { error: (error as Error).message, depth: this.#spool.depth },
        'spool drain failed; will retry',
      );
      return 0;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.drain();
    await this.#spool.close();
  }
}
