/**
 * Property-based: whatever arrives, the receiver answers with a 2xx or a 4xx (never a 5xx, never a
 * crash), its memory stays bounded, and every notification it acknowledged can be found in Redis.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationsOf } from '../../src/queue/ingest.ts';
import { seenKey } from '../../src/queue/names.ts';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.ts';
import { REDIS_URL } from '../helpers/redis-server.ts';

const MAX_BODY = 65_536;

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/x-www-form-urlencoded',
    'text/plain',
    '',
    'application/xml',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
  ),
  fc.string({ maxLength: 40 }),
);

const field = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((n) => n.toString()),
  fc.boolean(),
  fc.constant(null),
);

/** Something shaped like a notification, with random values and extra fields. */
const notification = fc
  .record({
    cmiuuid: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 50 }), fc.integer()),
    type: fc.oneof(fc.constantFrom('cdr', 'event', 'CDR'), fc.string({ maxLength: 10 })),
    status: fc.oneof(
      fc.constantFrom('answered', 'missed', 'STREAM_DISCONNECTED'),
      fc.string({ maxLength: 20 }),
    ),
    from: field,
    to: field,
    time: field,
    answeredsec: field,
    custom: fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 40 })),
    extra: fc.dictionary(fc.string({ maxLength: 10 }), field, { maxKeys: 10 }),
  })
  .map(({ extra, ...fields }) => ({ ...extra, ...fields }));

/** A raw JSON number literal far beyond what a double holds. */
const hugeNumberBody = fc
  .bigInt({ min: 10n ** 20n, max: 10n ** 300n })
  .map((n) => `{"cmiuuid":"huge","from":${n},"to":-${n},"time":${n}e5}`);

const deepBody = fc
  .integer({ min: 1, max: 40_000 })
  .map((depth) => `{"cmiuuid":"deep","nested":${'['.repeat(depth)}${']'.repeat(depth)}}`);

const body = fc.oneof(
  notification.map((fields) => JSON.stringify(fields)),
  notification.map((fields) =>
    new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString(),
  ),
  fc.json({ maxDepth: 6 }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  hugeNumberBody,
  deepBody,
  fc
    .integer({ min: MAX_BODY - 100, max: MAX_BODY * 3 })
    .map((size) => `{"cmiuuid":"big","pad":"${'x'.repeat(size)}"}`),
);

const request = fc.record({
  method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'),
  contentType,
  body,
  query: fc.option(
    notification.map((fields) =>
      new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString(),
    ),
  ),
});

describe('any input', () => {
  let receiver: TestReceiver;
  let redis: Redis;
  beforeAll(async () => {
    receiver = await startTestReceiver(`receiver:\n  maxBodyBytes: ${MAX_BODY}\n`);
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    redis.disconnect();
    await receiver.dispose();
  });

  it('gets a 2xx or 4xx, never a 5xx; every 200 is retrievable; memory stays bounded', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    let acknowledged = 0;
    await fc.assert(
      fc.asyncProperty(request, async ({ method, contentType: type, body: payload, query }) => {
        const url = `${receiver.url}/webhook/cdr${query ? `?${query}` : ''}`;
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        const response = await fetch(url, {
          method,
          headers,
          body: method === 'GET' ? undefined : payload,
        });
        const text = await response.text();
        expect(response.status, `${method} ${type} -> ${text}`).toBeLessThan(500);
        expect(text).not.toMatch(/\n\s+at /);
        if (response.status === 200) {
          acknowledged += 1;
          const { id } = JSON.parse(text) as { id: string };
          // The "seen" mark names the job that holds the notification; the job must exist and hold it.
          const jobId = await redis.get(seenKey(receiver.config.redis.prefix, id));
          expect(jobId).not.toBeNull();
          const job = await receiver.queue.getJob(jobId as string);
          expect(notificationsOf(job?.data).map((notification) => notification.id)).toContain(id);
        }
      }),
      { numRuns: 300 },
    );
    expect(acknowledged).toBeGreaterThan(20);
    // Nothing retained per request: 300 requests of up to 192 KB leave no more than a few MB behind.
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });
});
