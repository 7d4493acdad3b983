import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { RetentionConfig } from '../../src/config/index.ts';
import { DurableIngest } from '../../src/queue/durable-ingest.ts';
import { IngestWriter, ingestQueue } from '../../src/queue/ingest.ts';
import { Spool } from '../../src/queue/spool.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { capturingLogger } from '../helpers/logger.ts';
import { queuedEvents, startTestReceiver, type TestReceiver, uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, OwnRedis, REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { listSamples, loadSample, sampleEvent } from '../helpers/samples.ts';

const events: CallEvent[] = listSamples().map((name) => sampleEvent(name));

describe('Spool', () => {
  it('keeps appended events across a restart and drains them in order, then is empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
    const first = new Spool(dir);
    await Promise.all(events.map((event) => first.append(event)));
    expect(first.depth).toBe(events.length);
    await first.close();

    const again = new Spool(dir);
    expect(again.depth).toBe(events.length);
    const drained: CallEvent[] = [];
    const moved = await again.drain(async (chunk) => {
      drained.push(...chunk);
    }, 7);
    expect(moved).toBe(events.length);
    expect(drained.map((event) => event.id)).toEqual(events.map((event) => event.id));
    expect(again.depth).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed drain keeps everything for the next one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
    const spool = new Spool(dir);
    for (const event of events.slice(0, 5)) await spool.append(event);
    await expect(spool.drain(async () => Promise.reject(new Error('Redis went away')))).rejects.toThrow();
    // Appends made after the failed drain are kept too.
    await spool.append(events[5] as CallEvent);
    const drained: string[] = [];
    await spool.drain(async (chunk) => {
      drained.push(...chunk.map((event) => event.id));
    });
    await spool.drain(async (chunk) => {
      drained.push(...chunk.map((event) => event.id));
    });
    expect(drained).toEqual(events.slice(0, 6).map((event) => event.id));
    expect(spool.depth).toBe(0);
  });

  it('ignores a torn last line (a crash mid-write, never acknowledged)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
    writeFileSync(join(dir, 'spool.ndjson'), `${JSON.stringify(events[0])}\n{"id":"torn`);
    expect(new Spool(dir).depth).toBe(1);
  });
});

describe('draining the spool', () => {
  it('counts what turns out to be a resend of a stored notification as a duplicate, and stores it once', async () => {
    const prefix = uniquePrefix('drain');
    const redis = new Redis(REDIS_URL);
    const queue = ingestQueue(redis, prefix, v.parse(RetentionConfig, {}));
    const writer = new IngestWriter(queue, redis, { dedupeWindowMs: 60_000 });
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'cdrf-spool-')));
    const counted: number[] = [];
    const { logger, lines } = capturingLogger();
    const ingest = new DurableIngest(writer, spool, redis, logger, (count) => counted.push(count));
    try {
      const [stored, other] = events as [CallEvent, CallEvent];
      await writer.write(stored);
      // Spooled while Redis could not be asked: one resend of the stored one, one new.
      expect(await spool.append(stored)).toEqual({ duplicate: false });
      expect(await spool.append(other)).toEqual({ duplicate: false });
      // Redis's return and the timer may ask at once: one drain, reported once.
      expect(await Promise.all([ingest.drain(), ingest.drain()])).toEqual([2, 2]);
      // The receiver adds these to cdrf_notification_duplicates_total.
      expect(counted).toEqual([1]);
      expect(lines().filter((line) => line.msg === 'spool drained into the queue')).toMatchObject([
        { events: 2, duplicates: 1 },
      ]);
      expect((await queuedEvents(queue)).map((event) => event.id).sort()).toEqual(
        [stored.id, other.id].sort(),
      );
    } finally {
      await ingest.close();
      await queue.close();
      redis.disconnect();
      await deletePrefix(REDIS_URL, prefix);
    }
  });
});

describe('the receiver while Redis is down', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('answers 200 after spooling to disk, and drains into the queue without duplicates when Redis is back', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const spoolDir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
    const receiver: TestReceiver = await startTestReceiver(`receiver:\n  spoolDir: ${spoolDir}\n`, redis.url);
    cleanups.push(() => receiver.close());
    const post = (fields: Record<string, unknown>) =>
      fetch(`${receiver.url}/webhook/cdr`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fields),
      });

    // One stored before the outage, then resent during it: the drain must not make it two.
    expect((await post(loadSample('chub-cdr-incoming-answered'))).status).toBe(200);
    await redis.stop();
    const names = ['chub-cdr-incoming-answered', 'chub-cdr-incoming-missed', 'chub-event-incoming-waiting'];
    for (const name of names) {
      const response = await post(loadSample(name));
      expect(response.status).toBe(200);
    }
    // A resend of one held in the spool: recognised there, and not spooled twice.
    const resent = await post(loadSample('chub-cdr-incoming-missed'));
    expect(resent.status).toBe(200);
    expect(await resent.json()).toMatchObject({ duplicate: true });
    const spooled = readFileSync(join(spoolDir, 'spool.ndjson'), 'utf8').trimEnd().split('\n');
    expect(spooled).toHaveLength(3);
    const ready = await fetch(`${receiver.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'degraded', redis: 'down', spooled: 3 });
    const scraped = await (await fetch(`${receiver.url}/metrics`)).text();
    expect(scraped).toMatch(/^cdrf_spool_depth 3$/m);

    await redis.start();
    await waitFor(async () => (await queuedEvents(receiver.queue)).length === 3, 15_000);
    await waitFor(() => !existsSync(join(spoolDir, 'spool.ndjson')) && readdirSync(spoolDir).length === 0);
    expect(await (await fetch(`${receiver.url}/metrics`)).text()).toMatch(/^cdrf_spool_depth 0$/m);
    const callIds = (await queuedEvents(receiver.queue)).map((event) => event.callId).sort();
    expect(callIds).toEqual(
      [
        '16132200-57fa-47b5-888d-4ab5b7e631ee',
        '4d1f9521-50e5-447d-bf5f-c3292995a727',
        '5202a928-07c3-4d32-a1a4-d304c9275971',
      ].sort(),
    );
  });

  it('answers 503, never 200, when the spool cannot be written either', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const spoolDir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
    const receiver = await startTestReceiver(`receiver:\n  spoolDir: ${spoolDir}\n`, redis.url);
    cleanups.push(() => receiver.close());
    await redis.stop();
    // The disk goes away: the spool folder is replaced by a file.
    rmSync(spoolDir, { recursive: true });
    writeFileSync(spoolDir, 'not a folder');
    const response = await fetch(`${receiver.url}/webhook/cdr?cmiuuid=lost-1&type=event&status=waiting`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    rmSync(spoolDir);
  });
});
