import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdQueue, queueHoldMs } from '../../src/queue/hold.ts';
import { uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL } from '../helpers/redis-server.ts';

describe('a destination hold', () => {
  const prefix = uniquePrefix('hold');
  let redis: Redis;
  const queues: Queue[] = [];
  const freshQueue = () => {
    const queue = new Queue(`deliver.q${queues.length}`, { connection: redis, prefix });
    queues.push(queue);
    return queue;
  };
  const secondsLeft = async (queue: Queue) => Math.round((await queueHoldMs(queue)) / 1000);

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    await deletePrefix(REDIS_URL, prefix);
    redis.disconnect();
  });

  it('lasts as long as asked, and is never shortened by a shorter one', async () => {
    const queue = freshQueue();
    expect(await queueHoldMs(queue)).toBe(0);
    await holdQueue(redis, queue, 60_000);
    expect(await secondsLeft(queue)).toBe(60);
    await holdQueue(redis, queue, 5_000);
    expect(await secondsLeft(queue)).toBe(60);
    await holdQueue(redis, queue, 120_000);
    expect(await secondsLeft(queue)).toBe(120);
  });

  it('ends by itself', async () => {
    const queue = freshQueue();
    await holdQueue(redis, queue, 200);
    expect(await queueHoldMs(queue)).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await queueHoldMs(queue)).toBe(0);
  });

  it('is not a rate limit, and takes over from one', async () => {
    const queue = freshQueue();
    // What BullMQ's limiter keeps: a count of jobs taken in the current window.
    await redis.set(queue.toKey('limiter'), 3, 'PX', 60_000);
    expect(await queueHoldMs(queue)).toBe(0);
    await holdQueue(redis, queue, 10_000);
    expect(await secondsLeft(queue)).toBe(10);
  });
});
