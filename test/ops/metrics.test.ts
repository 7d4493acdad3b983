import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { registry, watchQueues } from '../../src/ops/metrics.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { type Spawned, spawnEntry, writeTempConfig } from '../helpers/process.ts';
import { startTestReceiver, uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, freePort, OwnRedis, REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { loadSample } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const FAMILIES = {
  cdrf_notifications_total: 'counter',
  cdrf_notification_duplicates_total: 'counter',
  cdrf_auth_refusals_total: 'counter',
  cdrf_ack_latency_seconds: 'histogram',
  cdrf_deliveries_total: 'counter',
  cdrf_delivery_attempt_seconds: 'histogram',
  cdrf_delivery_latency_seconds: 'histogram',
  cdrf_queue_jobs: 'gauge',
  cdrf_queue_oldest_waiting_age_seconds: 'gauge',
  cdrf_queue_hold_seconds: 'gauge',
  cdrf_queue_paused: 'gauge',
  cdrf_redis_up: 'gauge',
  // prom-client's default process metrics
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
} as const;

/** The families only a receiver has (besides the spool depth, absent from FAMILIES). */
const RECEIVER_FAMILIES = [
  'cdrf_notifications_total',
  'cdrf_notification_duplicates_total',
  'cdrf_auth_refusals_total',
  'cdrf_ack_latency_seconds',
] as const;

/** The value of one series in a Prometheus text exposition (0 when absent). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = line.match(/^([a-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/i);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, wanted]) => found[key] === wanted)) return Number(match[3]);
  }
  return 0;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

describe('GET /metrics on the receiver', () => {
  it('exposes every metric family, without authentication', async () => {
    const receiver = await startTestReceiver(
      'receiver: {token: tok_0123456789abcdef}\nadmin: {password: pw}\n',
    );
    cleanups.push(() => receiver.dispose());
    const text = await scrape(receiver.url);
    // The delivery families join when a delivery worker starts (the worker test below).
    for (const [name, type] of Object.entries(FAMILIES))
      if (!name.startsWith('cdrf_deliver')) expect(text).toContain(`# TYPE ${name} ${type}`);
    // The series the example alerts read exist from the start (at 0 when nothing happened), so
    // that increase() sees their first event: a series that appears at 1 has no increase.
    const series = (name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));
    for (const kind of ['cdr', 'event', 'other'])
      for (const outcome of ['queued', 'duplicate', 'spooled', 'unavailable'])
        expect(series('cdrf_notifications_total')).toContainEqual(
          expect.stringMatching(
            new RegExp(`^cdrf_notifications_total\\{kind="${kind}",outcome="${outcome}"\\} \\d+$`),
          ),
        );
    for (const outcome of ['invalid', 'unauthorized', 'forbidden', 'too_large', 'error'])
      expect(series('cdrf_notifications_total')).toContain(
        `cdrf_notifications_total{kind="unknown",outcome="${outcome}"} ${value(text, 'cdrf_notifications_total', { kind: 'unknown', outcome })}`,
      );
    for (const reason of ['missing_token', 'wrong_token', 'address_not_allowed'])
      expect(series('cdrf_auth_refusals_total')).toContain(`cdrf_auth_refusals_total{reason="${reason}"} 0`);
  });

  it('counts notifications, refusals and duplicates, and times the answers', async () => {
    const receiver = await startTestReceiver('receiver: {token: tok_0123456789abcdef, maxBodyBytes: 1024}\n');
    cleanups.push(() => receiver.dispose());
    const hook = `${receiver.url}/webhook/cdr`;
    const post = (url: string, body: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const before = await scrape(receiver.url);

    const sample = JSON.stringify(loadSample('chub-cdr-incoming-answered'));
    expect((await post(`${hook}?token=tok_0123456789abcdef`, sample)).status).toBe(200);
    expect((await post(`${hook}?token=tok_0123456789abcdef`, sample)).status).toBe(200); // duplicate
    expect((await post(hook, sample)).status).toBe(401);
    expect((await post(`${hook}?token=wrong-token-0123456789`, sample)).status).toBe(401);
    expect((await post(`${hook}?token=tok_0123456789abcdef`, '{"type": ')).status).toBe(400);
    expect((await post(`${hook}?token=tok_0123456789abcdef`, `{"x":"${'y'.repeat(2000)}"}`)).status).toBe(
      413,
    );

    const after = await scrape(receiver.url);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta('cdrf_notifications_total', { kind: 'cdr', outcome: 'queued' })).toBe(1);
    expect(delta('cdrf_notifications_total', { kind: 'cdr', outcome: 'duplicate' })).toBe(1);
    expect(delta('cdrf_notifications_total', { outcome: 'unauthorized' })).toBe(2);
    expect(delta('cdrf_notifications_total', { outcome: 'invalid' })).toBe(1);
    expect(delta('cdrf_notifications_total', { outcome: 'too_large' })).toBe(1);
    expect(delta('cdrf_notification_duplicates_total')).toBe(1);
    expect(delta('cdrf_auth_refusals_total', { reason: 'missing_token' })).toBe(1);
    expect(delta('cdrf_auth_refusals_total', { reason: 'wrong_token' })).toBe(1);
    // Both 200s are timed; no refusal is.
    expect(delta('cdrf_ack_latency_seconds_count')).toBe(2);
    expect(delta('cdrf_ack_latency_seconds_bucket', { le: '+Inf' })).toBe(2);
  });
});

describe('delivery and queue metrics', () => {
  let pipeline: Pipeline;

  it('deliveries_total moves for retrying and delivered; histograms and queue gauges follow', async () => {
    const crm = await Sink.start();
    cleanups.push(() => crm.close());
    crm.respond = (_request, index) => (index === 0 ? { status: 503, body: 'busy' } : { status: 200 });
    // `parked` has no worker here, so its job waits: the oldest-waiting gauge has something to show.
    pipeline = await startPipeline(
      `destinations:
  - {name: crm, type: http, url: "${crm.url}", retry: {attempts: 5, delayMs: 20}}
  - {name: parked, type: http, url: "${crm.url}"}
`,
      { roles: 'fanout,crm' },
    );
    cleanups.push(() => pipeline.stop());
    const before = await scrape(pipeline.url);

    const { status } = await pipeline.post(loadSample('chub-cdr-incoming-answered'));
    expect(status).toBe(200);
    await waitFor(async () => (await pipeline.queue('crm').getCompletedCount()) === 1);
    await waitFor(async () => (await pipeline.queue('parked').getWaitingCount()) === 1);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the oldest waiting job ages

    const after = await scrape(pipeline.url);
    const delta = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    const crmLabels = { destination: 'crm' };
    expect(delta('cdrf_deliveries_total', { ...crmLabels, outcome: 'retrying', status_class: '5xx' })).toBe(
      1,
    );
    expect(delta('cdrf_deliveries_total', { ...crmLabels, outcome: 'delivered', status_class: '2xx' })).toBe(
      1,
    );
    expect(delta('cdrf_deliveries_total', { ...crmLabels, outcome: 'dead', status_class: '5xx' })).toBe(0);
    // Created at zero, so that increase() sees the first dead delivery.
    expect(after).toMatch(/cdrf_deliveries_total\{[^}]*destination="crm"[^}]*outcome="dead"[^}]*\} 0/);
    expect(delta('cdrf_delivery_attempt_seconds_count', crmLabels)).toBe(2);
    expect(delta('cdrf_delivery_latency_seconds_count', crmLabels)).toBe(1);
    expect(value(after, 'cdrf_delivery_latency_seconds_sum', crmLabels)).toBeGreaterThan(0);

    expect(value(after, 'cdrf_queue_jobs', { queue: 'deliver.crm', state: 'completed' })).toBe(1);
    expect(value(after, 'cdrf_queue_jobs', { queue: 'deliver.parked', state: 'waiting' })).toBe(1);
    expect(value(after, 'cdrf_queue_jobs', { queue: 'ingest', state: 'completed' })).toBe(1);
    expect(value(after, 'cdrf_queue_jobs', { queue: 'deliver.crm', state: 'failed' })).toBe(0);
    expect(
      value(after, 'cdrf_queue_oldest_waiting_age_seconds', { queue: 'deliver.parked' }),
    ).toBeGreaterThan(1);
    expect(value(after, 'cdrf_queue_oldest_waiting_age_seconds', { queue: 'deliver.crm' })).toBe(0);
    // Each queue once, although the receiver, the fan-out and the worker all watch deliver.crm.
    expect(after.match(/^cdrf_queue_jobs\{[^}]*queue="deliver\.crm"[^}]*state="completed"/gm)).toHaveLength(
      1,
    );
  });
});

/** A queue under a prefix of its own, watched for the metrics, removed after the test. */
function watchedQueue(name: string): { queue: Queue; prefix: string } {
  const prefix = uniquePrefix('metrics');
  const connection = new Redis(REDIS_URL);
  const queue = new Queue(name, { connection, prefix });
  const unwatch = watchQueues([queue]);
  cleanups.push(async () => {
    unwatch();
    await queue.close();
    connection.disconnect();
    await deletePrefix(REDIS_URL, prefix);
  });
  return { queue, prefix };
}

describe('hold metric', () => {
  it('the oldest-waiting age is the longest wait of the jobs next in line, not only the next one; a paused queue says so', async () => {
    const { queue } = watchedQueue('deliver.lined');
    await queue.add('cdr', { n: 1 });
    expect(await registry.metrics()).toContain('cdrf_queue_paused{queue="deliver.lined"} 0');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // As a job whose worker died: it goes back to the front of the line, the first job behind it.
    await queue.add('cdr', { n: 2 }, { lifo: true });
    // Paused from the dashboard: said so, and the wait goes on.
    await queue.pause();
    const text = await registry.metrics();
    const age = value(text, 'cdrf_queue_oldest_waiting_age_seconds', { queue: 'deliver.lined' });
    expect(age).toBeGreaterThanOrEqual(1.1);
    expect(text).toContain('cdrf_queue_paused{queue="deliver.lined"} 1');
  });

  it('the oldest-waiting age leaves out a retry, whose backoff is no wait for a worker, not the jobs behind it', async () => {
    const { queue, prefix } = watchedQueue('deliver.retried');
    // A delivery fails once and waits out its backoff.
    const retried = await queue.add(
      'cdr',
      { n: 1 },
      { attempts: 2, backoff: { type: 'fixed', delay: 60_000 } },
    );
    const worker = new Worker(
      'deliver.retried',
      async () => {
        throw new Error('503 from the CRM');
      },
      { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix },
    );
    cleanups.push(() => worker.close());
    await waitFor(async () => (await queue.getDelayedCount()) === 1);
    await worker.close();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Its delay runs out (as a worker promotes it) just after a new delivery joined the line.
    await queue.add('cdr', { n: 2 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await (await queue.getJob(retried.id as string))?.promote();
    expect(await queue.getWaitingCount()).toBe(2);
    const age = value(await registry.metrics(), 'cdrf_queue_oldest_waiting_age_seconds', {
      queue: 'deliver.retried',
    });
    // The new delivery's wait, not the 1.8 s since the retry's failed attempt began.
    expect(age).toBeGreaterThanOrEqual(0.3);
    expect(age).toBeLessThan(1.5);
  });

  it('shows how long a Retry-After holds a destination, and 0 for one not held', async () => {
    const chat = await Sink.start();
    cleanups.push(() => chat.close());
    chat.respond = () => ({ status: 429, headers: { 'retry-after': '600' }, body: 'slow down' });
    const pipeline = await startPipeline(`destinations:
  - {name: chat, type: http, url: "${chat.url}"}
  - {name: archive, type: http, url: "${chat.url}", filter: {kind: other}}
`);
    cleanups.push(() => pipeline.stop());
    await pipeline.post(loadSample('chub-cdr-incoming-answered'));
    await waitFor(async () => (await pipeline.queue('chat').getDelayedCount()) === 1);
    const text = await scrape(pipeline.url);
    const held = value(text, 'cdrf_queue_hold_seconds', { queue: 'deliver.chat' });
    expect(held).toBeGreaterThan(590);
    expect(held).toBeLessThanOrEqual(600);
    expect(text).toMatch(/^cdrf_queue_hold_seconds\{queue="deliver\.archive"\} 0$/m);
    expect(text).not.toMatch(/^cdrf_queue_hold_seconds\{queue="ingest"\}/m);
  });
});

describe('worker process metrics server', () => {
  it('a worker whose metrics port is taken says so in one line, naming the setting, and exits 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const prefix = uniquePrefix('metrics-taken');
    const config = writeTempConfig(
      `redis: {url: "${REDIS_URL}", prefix: ${prefix}}
workers: {metricsPort: ${port}, metricsHost: 127.0.0.1}
destinations:
  - {name: crm, type: http, url: "http://127.0.0.1:9/hook"}
`,
    );
    try {
      const worker = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: config, LOG_LEVEL: 'warn' });
      expect(await worker.exited).toBe(1);
      expect(worker.output().trim()).toBe(
        `cdr-forwarder: port ${port} (127.0.0.1) is in use, by another program or another cdr-forwarder: ` +
          'set workers.metricsPort (METRICS_PORT where the config does not set it) to a free port for the metrics, or 0 to turn them off',
      );
    } finally {
      taken.close();
      await deletePrefix(REDIS_URL, prefix);
    }
  });

  it('a worker serves /metrics, /healthz and /readyz on workers.metricsPort: its own series only, and Redis lost and back once each', async () => {
    const redis = await OwnRedis.start();
    const port = await freePort();
    const receiverPort = await freePort();
    const config = writeTempConfig(
      `redis: {url: "${redis.url}"}
receiver: {port: ${receiverPort}, host: 127.0.0.1, spoolDir: ${mkdtempSync(join(tmpdir(), 'cdrf-spool-'))}}
workers: {metricsPort: ${port}, stalledIntervalMs: 500}
destinations:
  - {name: crm, type: http, url: "http://127.0.0.1:9/hook"}
`,
    );
    // The config's key wins over the METRICS_PORT=0 the helper sets for other tests.
    const worker: Spawned = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: config });
    const receiver: Spawned = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config });
    cleanups.push(async () => {
      for (const run of [worker, receiver]) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
      await redis.stop();
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true, 20_000);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toEqual({
      status: 200,
      body: { status: 'ok', redis: 'up' },
    });
    const text = await scrape(base);
    for (const [name, type] of Object.entries(FAMILIES))
      if (!(RECEIVER_FAMILIES as readonly string[]).includes(name))
        expect(text).toContain(`# TYPE ${name} ${type}`);
    expect(text).toMatch(/^cdrf_redis_up 1$/m);
    expect(value(text, 'cdrf_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(0);
    expect(text).toMatch(/^cdrf_queue_jobs\{[^}]*queue="deliver\.crm"/m);
    // The receiver's series are the receiver's, and the deliveries' the worker's.
    for (const family of [...RECEIVER_FAMILIES, 'cdrf_spool_depth'])
      expect(text).not.toContain(`# TYPE ${family} `);
    await waitFor(() => receiver.output().includes('receiver listening'), 20_000);
    const receiverText = await scrape(`http://127.0.0.1:${receiverPort}`);
    expect(receiverText).toContain('# TYPE cdrf_spool_depth gauge');
    expect(receiverText).not.toContain('# TYPE cdrf_deliveries_total ');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect(worker.output()).toContain('metrics server listening');

    // Redis stops: not ready, cdrf_redis_up 0, one line for the loss (per connection), no stack trace.
    await redis.stop();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, 10_000);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'degraded', redis: 'down' });
    expect(await scrape(base)).toMatch(/^cdrf_redis_up 0$/m);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // a few reconnects fail meanwhile
    const lost = (output: string) =>
      output.split('\n').filter((line) => line.includes('Redis connection lost'));
    // One per connection of the worker (the fan-out's, the destination's), however many reconnects failed.
    expect(lost(worker.output())).toHaveLength(2);
    expect(worker.output()).not.toMatch(/^\s+at /m);
    expect(worker.output()).not.toContain('worker error');

    await redis.start();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 15_000);
    await waitFor(() => worker.output().split('Redis connection restored').length - 1 === 2, 10_000);
    expect(await scrape(base)).toMatch(/^cdrf_redis_up 1$/m);
  });
});
