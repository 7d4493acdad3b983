import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventOf,
  type IngestJobData,
  IngestWriter,
  ingestQueue,
  notificationsOf,
} from '../../src/queue/ingest.ts';
import { seenKey } from '../../src/queue/names.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { testConfig, uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL } from '../helpers/redis-server.ts';
import { sampleEvent } from '../helpers/samples.ts';

function callEvent(callId: string): CallEvent {
  return sampleEvent('chub-cdr-incoming-answered.json', { fields: { cmiuuid: callId } });
}

async function storedNotifications(queue: Queue<IngestJobData>) {
  const jobs = await queue.getJobs(['waiting']);
  return jobs.flatMap((job) =>
    notificationsOf(job.data).map((notification) => ({ job: job.id, notification })),
  );
}

describe('IngestWriter', () => {
  const prefix = uniquePrefix('ingest');
  let redis: Redis;
  /** The writers' own connection, as the receiver gives them. */
  let writes: Redis;
  let queue: Queue<IngestJobData>;
  let writer: IngestWriter;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    writes = new Redis(REDIS_URL);
    queue = ingestQueue(redis, prefix, testConfig().retention);
    writer = new IngestWriter(queue, writes, { dedupeWindowMs: 60_000 });
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    writes.disconnect();
    await deletePrefix(REDIS_URL, prefix);
  });

  it('stores notifications that arrive together in one job, each once, as the fan-out reads them', async () => {
    const events = Array.from({ length: 10 }, (_, i) => callEvent(`together-${i}`));
    const results = await Promise.all(events.map((event) => writer.write(event)));
    expect(results.every((result) => !result.duplicate)).toBe(true);

    const ours = (await storedNotifications(queue)).filter(({ notification }) =>
      events.some((event) => event.id === notification.id),
    );
    expect(ours).toHaveLength(10);
    // The first is written at once; the nine that arrived meanwhile share the next job.
    expect(new Set(ours.map(({ job }) => job)).size).toBe(2);
    for (const [index, event] of events.entries()) {
      const entry = ours.find(({ notification }) => notification.id === event.id);
      expect(entry?.job).toBe(results[index]?.jobId);
      // Only the fields and the time of receipt are stored; the event is rebuilt exactly.
      expect(Object.keys(entry?.notification ?? {}).sort()).toEqual(['id', 'raw', 'receivedAt']);
      expect(eventOf(entry?.notification as never)).toEqual(event);
      expect(await redis.get(seenKey(prefix, event.id))).toBe(entry?.job);
    }
  });

  it('answers a resend, and a second copy in the same batch, as duplicates without storing them', async () => {
    const event = callEvent('resent-1');
    const [first, sameBatchA, sameBatchB] = await Promise.all([
      writer.write(event),
      writer.write(event),
      writer.write(callEvent('resent-1')),
    ]);
    expect(first).toEqual({ jobId: expect.any(String), duplicate: false });
    expect(sameBatchA).toEqual({ jobId: first?.jobId, duplicate: true });
    expect(sameBatchB).toEqual({ jobId: first?.jobId, duplicate: true });
    expect(await writer.write(event)).toEqual({ jobId: first?.jobId, duplicate: true });
    const copies = (await storedNotifications(queue)).filter(
      ({ notification }) => notification.id === event.id,
    );
    expect(copies).toHaveLength(1);
  });

  it('when two writers race with the same notification, answers one of them duplicate', async () => {
    // Two receivers on one Redis: both look for the mark before either has set it.
    const other = new IngestWriter(queue, writes, { dedupeWindowMs: 60_000 });
    const event = callEvent('raced-1');
    const answers = await Promise.all([writer.write(event), other.write(event)]);
    expect(answers.map((answer) => answer.duplicate).sort()).toEqual([false, true]);
    const winner = answers.find((answer) => !answer.duplicate);
    // The mark names the winner's job: the fan-out skips the copy the loser's job holds.
    expect(await redis.get(seenKey(prefix, event.id))).toBe(winner?.jobId);
  });

  it('leaves no mark when the job could not be stored, so that the retry is not a "duplicate"', async () => {
    const broken = uniquePrefix('ingest-broken');
    const brokenQueue = ingestQueue(redis, broken, testConfig().retention);
    const brokenWriter = new IngestWriter(brokenQueue, writes, { dedupeWindowMs: 60_000 });
    // A key of the wrong type makes BullMQ's add script fail inside the MULTI, after the marks.
    await redis.del(`${broken}:ingest:meta`);
    await redis.set(`${broken}:ingest:meta`, 'not a hash');
    const event = callEvent('fails-once');
    try {
      await expect(brokenWriter.write(event)).rejects.toThrow(/WRONGTYPE/);
      expect(await redis.get(seenKey(broken, event.id))).toBeNull();

      await redis.del(`${broken}:ingest:meta`);
      expect(await brokenWriter.write(event)).toEqual({ jobId: expect.any(String), duplicate: false });
      expect((await storedNotifications(brokenQueue)).map(({ notification }) => notification.id)).toEqual([
        event.id,
      ]);
    } finally {
      await brokenQueue.close();
      await deletePrefix(REDIS_URL, broken);
    }
  });
});
