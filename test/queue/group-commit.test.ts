import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/queue/group-commit.ts';

describe('GroupCommit', () => {
  it('writes the first item at once and gathers the ones that arrive meanwhile into the next write', async () => {
    const writes: number[][] = [];
    const commits = new GroupCommit<number, number>(async (items) => {
      writes.push(items);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return items.map((item) => item * 10);
    });
    const results = await Promise.all([1, 2, 3, 4].map((item) => commits.submit(item)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(writes).toEqual([[1], [2, 3, 4]]);
    expect(commits.busy).toBe(false);
  });

  it('takes at most maxBatch items per write', async () => {
    const writes: number[][] = [];
    const commits = new GroupCommit<number, number>(
      async (items) => {
        writes.push(items);
        await new Promise((resolve) => setTimeout(resolve, 10));
        return items;
      },
      { maxBatch: 2 },
    );
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((item) => commits.submit(item)))).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    expect(writes).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('fails every item of a failed write, and only those', async () => {
    let calls = 0;
    const commits = new GroupCommit<string, string>(async (items) => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (calls === 2) throw new Error('disk full');
      return items;
    });
    const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((item) => commits.submit(item)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(await commits.submit('d')).toBe('d');
  });
});
