/**
 * Group commit: the first item is written at once; items that arrive while a write is in flight
 * wait and go together in the next one. Concurrent callers share round trips (Redis) or fsyncs
 * (the spool) without any added delay when there is no contention.
 */
export class GroupCommit<TItem, TResult> {
  readonly #write: (items: TItem[]) => Promise<TResult[]>;
  readonly #maxBatch: number;
  #pending: { item: TItem; resolve: (result: TResult) => void; reject: (error: unknown) => void }[] = [];
  #busy = false;

  /**
   * `write` returns one result per item, in order; if it throws, every item of the batch fails.
   * A write takes at most `maxBatch` items (default: all that wait).
   */
  constructor(write: (items: TItem[]) => Promise<TResult[]>, options: { maxBatch?: number } = {}) {
    this.#write = write;
    this.#maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
  }

  /** Whether a write is in flight. */
  get busy(): boolean {
    return this.#busy;
  }

  submit(item: TItem): Promise<TResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        const results = await this.#write(batch.map((entry) => entry.item));
        for (const [index, entry] of batch.entries()) entry.resolve(results[index] as TResult);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.#busy = false;
  }
}
