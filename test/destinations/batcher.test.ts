import { describe, expect, it } from 'vitest';
import { Batcher, keepBusyConcurrency } from '../../src/destinations/batcher.ts';

/** A flush that holds every batch until the test releases it, and records what it was given. */
function heldFlush() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const flush = (items: number[]) => {
    batches.push(items);
    return new Promise<undefined[]>((resolve) => releases.push(() => resolve(items.map(() => undefined))));
  };
  return { batches, releases, flush };
}

/** Feeds `items` to the batcher with `concurrency` deliveries in flight, as a worker does. */
async function feed(batcher: Batcher<number>, items: number[], concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await batcher.add(items[next++] as number);
    }),
  );
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('Batcher', () => {
  it('flushes at size, and after waitMs for a partial batch', async () => {
    const { batches, releases, flush } = heldFlush();
    const batcher = new Batcher<number>({ size: 3, waitMs: 30, flush });
    const added = [1, 2, 3, 4].map((item) => batcher.add(item));
    expect(batches).toEqual([[1, 2, 3]]);
    await settle();
    expect(batches).toHaveLength(1); // one write at a time: [4] waits for the first
    releases.shift()?.();
    await settle();
    expect(batches).toEqual([[1, 2, 3], [4]]);
    releases.shift()?.();
    await Promise.all(added);
  });

  it("settles each caller with its own item's outcome", async () => {
    const batcher = new Batcher<number>({
      size: 3,
      waitMs: 10,
      flush: async (items) => items.map((item) => (item === 2 ? new Error('bad item 2') : undefined)),
    });
    const outcomes = await Promise.allSettled([1, 2, 3].map((item) => batcher.add(item)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe('bad item 2');
  });

  it('fails every item of a batch whose flush throws', async () => {
    const batcher = new Batcher<number>({
      size: 2,
      waitMs: 10,
      flush: async () => {
        throw new Error('connection reset');
      },
    });
    const outcomes = await Promise.allSettled([1, 2].map((item) => batcher.add(item)));
    expect(outcomes.map((outcome) => (outcome as PromiseRejectedResult).reason?.message)).toEqual([
      'connection reset',
      'connection reset',
    ]);
  });

  it('with keepBusyConcurrency in flight, every parallel write runs and the next batch is full meanwhile', async () => {
    const options = { size: 5, waitMs: 60_000, parallel: 3 };
    const items = Array.from({ length: 100 }, (_, index) => index);

    // One batch in flight (the old default): one write, and no item of the next batch arrives.
    const narrow = heldFlush();
    const narrowFeed = feed(new Batcher<number>({ ...options, flush: narrow.flush }), items, options.size);
    await settle();
    expect(narrow.batches).toHaveLength(1);

    const wide = heldFlush();
    const batcher = new Batcher<number>({ ...options, flush: wide.flush });
    const wideFeed = feed(batcher, items, keepBusyConcurrency(options));
    await settle();
    // Three batches written at once, while a fourth, already full, waits for a free write.
    expect(wide.batches).toHaveLength(3);
    wide.releases.shift()?.();
    await settle();
    expect(wide.batches).toHaveLength(4);
    expect(wide.batches[3]).toHaveLength(options.size);

    for (const held of [narrow, wide]) {
      while (held.batches.flat().length < items.length || held.releases.length > 0) {
        held.releases.shift()?.();
        await settle();
      }
    }
    await Promise.all([narrowFeed, wideFeed]);
    expect(wide.batches.flat().sort((a, b) => a - b)).toEqual(items);
  });

  it('drain writes what is waiting and resolves once every batch is written', async () => {
    const written: number[] = [];
    const batcher = new Batcher<number>({
      size: 10,
      waitMs: 60_000,
      flush: async (items) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        written.push(...items);
        return items.map(() => undefined);
      },
    });
    const added = [1, 2].map((item) => batcher.add(item));
    await batcher.drain();
    expect(written).toEqual([1, 2]);
    await Promise.all(added);
  });
});
