import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startDeliveryWorker } from '../../src/delivery/worker.ts';
import { metrics } from '../../src/ops/metrics.ts';
import { callIndexKey, INGEST_QUEUE } from '../../src/queue/names.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { capturingLogger } from '../helpers/logger.ts';
import { PG_URL, type Pipeline, startPipeline, withPg } from '../helpers/pipeline.ts';
import { silentLogger } from '../helpers/receiver.ts';
import { REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { loadSample } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const fastRetry = 'retry: {attempts: 5, delayMs: 50, maxDelayMs: 2000}';

let running: { pipeline?: Pipeline; sinks: Sink[]; tables: string[] } = { sinks: [], tables: [] };
afterEach(async () => {
  // Sinks first: a delivery hanging on one then ends at once instead of at its timeout.
  for (const sink of running.sinks) await sink.close();
  await running.pipeline?.stop();
  await withPg(async (db) => {
    for (const table of running.tables) await db.query(`DROP TABLE IF EXISTS ${table}`);
  });
  running = { sinks: [], tables: [] };
});

async function sink(): Promise<Sink> {
  const created = await Sink.start();
  running.sinks.push(created);
  return created;
}

async function pipeline(yaml: string): Promise<Pipeline> {
  running.pipeline = await startPipeline(yaml);
  return running.pipeline;
}

function table(): string {
  const name = `t_${randomBytes(4).toString('hex')}`;
  running.tables.push(name);
  return name;
}

/**
 * The fan-out alone first, so that the deliveries of `samples` all wait when the destination's
 * worker starts; then that worker, until every one is delivered.
 */
async function deliverQueued(destinationYaml: string, samples: string[]): Promise<Pipeline> {
  running.pipeline = await startPipeline(`destinations:\n  - ${destinationYaml}\n`, { roles: 'fanout' });
  const p = running.pipeline;
  const [destination] = p.config.destinations;
  if (!destination) throw new Error('the config has no destination');
  const queue = p.queue(destination.name);
  for (const name of samples) await p.post(loadSample(name));
  await waitFor(async () => (await queue.getWaitingCount()) === samples.length);
  const worker = startDeliveryWorker(p.config, destination, silentLogger);
  try {
    await waitFor(async () => (await queue.getCompletedCount()) === samples.length, 15_000);
  } finally {
    await worker.close();
  }
  return p;
}

describe('http destination, end to end', () => {
  it('delivers the canonical event with webhook-id and a signature standardwebhooks verifies', async () => {
    const crm = await sink();
    const p = await pipeline(`
destinations:
  - name: crm
    type: http
    url: ${crm.url}
    signingSecret: ${SECRET}
    headers: {x-api-key: key-123}
`);
    const { body } = await p.post(loadSample('chub-cdr-incoming-answered'));
    await waitFor(() => crm.requests.length === 1);
    const [request] = crm.requests;
    const event = JSON.parse(request?.body ?? '') as CallEvent;
    expect(event.id).toBe(body.id);
    expect(event.from).toBe('440000000002');
    expect(event.answeredSec).toBe(11);
    expect(request?.headers['webhook-id']).toBe(body.id);
    expect(request?.headers['x-api-key']).toBe('key-123');
    const verified = new Webhook(SECRET).verify(
      request?.body ?? '',
      request?.headers as Record<string, string>,
    );
    expect(verified).toEqual(event);
  });

  it('retries a sink that fails three times: exactly one success, one warehouse row', async () => {
    const crm = await sink();
    crm.respond = (_request, index) => (index < 3 ? { status: 503, body: 'down' } : { status: 200 });
    const warehouse = table();
    const p = await pipeline(`
destinations:
  - name: crm
    type: http
    url: ${crm.url}
    ${fastRetry}
  - name: warehouse
    type: postgres
    url: ${PG_URL}
    table: ${warehouse}
    batch: {size: 10, waitMs: 20}
`);
    const { body } = await p.post(loadSample('chub-cdr-outgoing-answered-leg-b'));
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 1, 15_000);
    await waitFor(async () => (await p.queue('warehouse').getCompletedCount()) === 1, 15_000);
    expect(crm.requests).toHaveLength(4);
    expect(new Set(crm.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([body.id]));
    const rows = await withPg((db) => db.query(`SELECT id, recording FROM ${warehouse}`));
    expect(rows.rows).toEqual([{ id: body.id, recording: '16506305548176941220057791_2222223.mp3' }]);
  });

  it('fails a 4xx after one attempt, with status and body excerpt on the job', async () => {
    const crm = await sink();
    crm.respond = () => ({ status: 422, body: `{"error":"unknown field ${'x'.repeat(3000)}"}` });
    const p = await pipeline(`destinations:\n  - {name: crm, type: http, url: "${crm.url}", ${fastRetry}}\n`);
    await p.post(loadSample('chub-cdr-incoming-missed'));
    await waitFor(async () => (await p.queue('crm').getFailedCount()) === 1);
    const [job] = await p.queue('crm').getFailed();
    expect(crm.requests).toHaveLength(1);
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/^HTTP 422: \{"error":"unknown field x+/);
    expect(Buffer.byteLength(job?.failedReason ?? '')).toBeLessThan(1024 + 64);
  });

  it('honours Retry-After on 429', async () => {
    const crm = await sink();
    crm.respond = (_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    const p = await pipeline(`destinations:\n  - {name: crm, type: http, url: "${crm.url}", ${fastRetry}}\n`);
    await p.post(loadSample('chub-event-incoming-waiting'));
    await waitFor(() => crm.requests.length === 2, 10_000);
    const [first, second] = crm.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2000);
  });

  it('a delivery whose lock expired before its result was recorded says so, and is made again', async () => {
    const crm = await sink();
    let answerFirst: (answer: { status: number }) => void = () => {};
    crm.respond = (_request, index) =>
      index === 0 ? new Promise((resolve) => (answerFirst = resolve)) : { status: 200 };
    const { logger, lines } = capturingLogger();
    running.pipeline = await startPipeline(
      `workers: {stalledIntervalMs: 1000}\ndestinations:\n  - {name: crm, type: http, url: "${crm.url}", ${fastRetry}}\n`,
      { logger },
    );
    const p = running.pipeline;
    const { body } = await p.post(loadSample('chub-cdr-incoming-answered'));
    await waitFor(() => crm.requests.length === 1);
    // As when Redis is away for longer than the lock: it is gone when the worker records the result.
    const jobId = `${body.id}.crm`;
    const redis = new Redis(REDIS_URL);
    await redis.del(`${p.config.redis.prefix}:deliver.crm:${jobId}:lock`);
    redis.disconnect();
    answerFirst({ status: 200 });
    await waitFor(() => lines().some((line) => String(line.msg).startsWith("a delivery's lock expired")));
    // Taken back by the next check for stalled jobs, and made again.
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 1, 20_000);
    const lost = lines().filter((line) => String(line.msg).startsWith("a delivery's lock expired"));
    expect(lost).toEqual([expect.objectContaining({ level: 40, destination: 'crm', jobId })]);
    expect(lines().filter((line) => line.msg === 'delivery worker error')).toEqual([]);
    expect(crm.requests.map((request) => request.headers['webhook-id'])).toEqual([body.id, body.id]);
  });

  it('a Retry-After holds off the whole destination, not only the delivery it refused', async () => {
    const crm = await sink();
    crm.respond = (_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    const p = await deliverQueued(
      `{name: crm, type: http, url: "${crm.url}", concurrency: 1, ${fastRetry}}`,
      ['chub-event-incoming-waiting', 'chub-cdr-incoming-missed', 'chub-cdr-incoming-answered'],
    );
    const [refused, next] = crm.requests;
    // Nothing went to the destination while it asked to wait: not the retry, not the other two.
    expect((next?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(crm.requests).toHaveLength(4);
    expect(new Set(crm.requests.slice(1).map((request) => request.headers['webhook-id'])).size).toBe(3);
    // Held back, the other two spent no attempt: each was sent once and delivered.
    const attempts = (await p.queue('crm').getJobs(['completed'])).map((job) => job.attemptsMade).sort();
    expect(attempts).toEqual([1, 1, 2]);
  });

  it('a Retry-After holds off every worker of the destination, even after the one that got it stops', async () => {
    const crm = await sink();
    crm.respond = (_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    running.pipeline = await startPipeline(
      `destinations:\n  - {name: crm, type: http, url: "${crm.url}", ${fastRetry}}\n`,
      { roles: 'fanout' },
    );
    const p = running.pipeline;
    const [crmConfig] = p.config.destinations;
    if (!crmConfig) throw new Error('the config has no destination');
    // Each worker has its own connection and its own memory, as two processes would.
    const workers = [startDeliveryWorker(p.config, crmConfig, silentLogger)];
    try {
      await p.post(loadSample('chub-event-incoming-waiting'));
      // Refused, the delivery is back in the queue (delayed) once the hold is set.
      await waitFor(async () => (await p.queue('crm').getDelayedCount()) === 1);
      // The worker that got the 429 stops; its hold must outlive it.
      await workers.shift()?.close();
      for (const name of ['chub-cdr-incoming-missed', 'chub-cdr-incoming-answered'])
        await p.post(loadSample(name));
      await waitFor(async () => (await p.queue('crm').getWaitingCount()) === 2);
      // A second worker, which never got the 429 itself, starts with two deliveries waiting.
      workers.push(startDeliveryWorker(p.config, crmConfig, silentLogger));
      await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 3, 15_000);
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
    }
    const [refused, next] = crm.requests;
    expect((next?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(crm.requests).toHaveLength(4);
    const attempts = (await p.queue('crm').getJobs(['completed'])).map((job) => job.attemptsMade).sort();
    expect(attempts).toEqual([1, 1, 2]);
  });

  it("retry.attempts is the destination worker's own, whatever the fan-out's config says", async () => {
    const crm = await sink();
    crm.respond = () => ({ status: 503, body: 'down' });
    // The fan-out runs with the old config: 2 attempts.
    running.pipeline = await startPipeline(
      `destinations:\n  - {name: crm, type: http, url: "${crm.url}", retry: {attempts: 2, delayMs: 50, maxDelayMs: 100}}\n`,
      { roles: 'fanout' },
    );
    const p = running.pipeline;
    const [fanoutView] = p.config.destinations;
    if (!fanoutView) throw new Error('the config has no destination');
    // The destination's worker was restarted with 4: deliveries the old fan-out made get 4 too.
    const crmConfig = { ...fanoutView, retry: { ...fanoutView.retry, attempts: 4 } };
    const worker = startDeliveryWorker(p.config, crmConfig, silentLogger);
    try {
      const { id } = (await p.post(loadSample('chub-cdr-incoming-answered'))).body;
      await waitFor(async () => (await p.queue('crm').getFailedCount()) === 1, 15_000);
      expect(crm.requests).toHaveLength(4);
      const job = await p.queue('crm').getJob(`${id}.crm`);
      expect(job?.attemptsMade).toBe(4);
      expect(job?.failedReason).toBe('HTTP 503: down');
    } finally {
      await worker.close();
    }
    // And fewer: a worker with 1 attempt gives up after the first.
    const strict = startDeliveryWorker(
      p.config,
      { ...fanoutView, retry: { ...fanoutView.retry, attempts: 1 } },
      silentLogger,
    );
    try {
      await p.post(loadSample('chub-cdr-incoming-missed'));
      await waitFor(async () => (await p.queue('crm').getFailedCount()) === 2, 15_000);
      expect(crm.requests).toHaveLength(5);
    } finally {
      await strict.close();
    }
  });

  it('a delivery already past a lowered retry.attempts goes dead without another request', async () => {
    const crm = await sink();
    crm.respond = () => ({ status: 503, body: 'down' });
    running.pipeline = await startPipeline(
      `destinations:\n  - {name: crm, type: http, url: "${crm.url}", retry: {attempts: 5, delayMs: 60000}}\n`,
      { roles: 'fanout' },
    );
    const p = running.pipeline;
    const [crmConfig] = p.config.destinations;
    if (!crmConfig) throw new Error('the config has no destination');
    const { id } = (await p.post(loadSample('chub-cdr-incoming-answered'))).body;
    const first = startDeliveryWorker(p.config, crmConfig, silentLogger);
    await waitFor(async () => (await p.queue('crm').getDelayedCount()) === 1, 10_000);
    await first.close();
    expect(crm.requests).toHaveLength(1);
    // Restarted with 1 attempt: the retry falls due, and the delivery is dead at once.
    await (await p.queue('crm').getJob(`${id}.crm`))?.promote();
    const deadCount = async () =>
      (await metrics.deliveries.get()).values.find(
        ({ labels }) =>
          labels.destination === 'crm' && labels.outcome === 'dead' && labels.status_class === 'none',
      )?.value ?? 0;
    const deadBefore = await deadCount();
    const lowered = startDeliveryWorker(
      p.config,
      { ...crmConfig, retry: { ...crmConfig.retry, attempts: 1 } },
      silentLogger,
    );
    try {
      await waitFor(async () => (await p.queue('crm').getFailedCount()) === 1, 10_000);
    } finally {
      await lowered.close();
    }
    expect(crm.requests).toHaveLength(1);
    expect((await p.queue('crm').getJob(`${id}.crm`))?.failedReason).toBe('HTTP 503: down');
    // Counted as dead, so that the alert on dead deliveries sees it.
    expect((await deadCount()) - deadBefore).toBe(1);
  });

  it('retention: delivered deliveries and ingest jobs are trimmed to their limits; the call index lasts deliveredDays', async () => {
    const crm = await sink();
    const p = await pipeline(`
retention: {deliveredDays: 2, deliveredMax: 10, ingestMaxJobs: 10}
destinations:
  - {name: crm, type: http, url: "${crm.url}"}
`);
    const sample = loadSample('chub-cdr-incoming-answered');
    // One after the other: fifteen ingest jobs, fifteen deliveries.
    for (let i = 0; i < 15; i++) await p.post({ ...sample, cmiuuid: `kept-${i}` });
    await waitFor(() => crm.requests.length === 15);
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 10);
    const redis = new Redis(REDIS_URL);
    const ingest = new Queue(INGEST_QUEUE, { connection: redis, prefix: p.config.redis.prefix });
    try {
      await waitFor(async () => (await ingest.getCompletedCount()) === 10);
      // The newest are the ones kept.
      const kept = await p.queue('crm').getCompleted();
      const callIds = new Set(kept.map((job) => job.data.callId));
      for (let i = 5; i < 15; i++) expect(callIds.has(`kept-${i}`)).toBe(true);
      const ttl = await redis.ttl(callIndexKey(p.config.redis.prefix, 'kept-14'));
      expect(ttl).toBeGreaterThan(2 * 24 * 3600 - 60);
      expect(ttl).toBeLessThanOrEqual(2 * 24 * 3600);
    } finally {
      await ingest.close();
      redis.disconnect();
    }
  });

  it('circuitBreaker: when a pause ends, one delivery probes; the others wait for its answer', async () => {
    const crm = await sink();
    // Down for 2.5 s from its first request, then back.
    let downUntil: number | undefined;
    crm.respond = () => {
      downUntil ??= Date.now() + 2_500;
      return Date.now() < downUntil ? { status: 503, body: 'down' } : { status: 200 };
    };
    const p = await deliverQueued(
      `{name: crm, type: http, url: "${crm.url}", concurrency: 4, ${fastRetry}, circuitBreaker: {failures: 2, pauseMs: 600}}`,
      [
        'chub-event-incoming-waiting',
        'chub-cdr-incoming-missed',
        'chub-cdr-incoming-answered',
        'chub-event-incoming-hangup',
        'chub-event-agent-started',
        'chub-event-agent-answered',
        'chub-event-agent-hangup',
        'chub-cdr-incoming-user-missed',
      ],
    );
    const times = crm.requests.map((request) => request.at);
    // The first pause: the first gap of pauseMs or more. Before it, the deliveries that were in
    // flight when the circuit opened; from then on, while the destination is down, one request
    // (the probe) per pause, never a burst of `concurrency`.
    const firstPause = times.findIndex((at, index) => index > 0 && at - (times[index - 1] ?? 0) >= 600);
    expect(firstPause).toBeGreaterThan(0);
    const probes = times.slice(firstPause).filter((at) => at < (downUntil ?? 0));
    expect(probes.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < probes.length; i++)
      expect((probes[i] ?? 0) - (probes[i - 1] ?? 0)).toBeGreaterThanOrEqual(600);
    // Those that waited for a probe's answer spent no attempt: one attempt per request.
    const attempts = (await p.queue('crm').getJobs(['completed'])).map((job) => job.attemptsMade);
    expect(attempts).toHaveLength(8);
    expect(attempts.reduce((sum, n) => sum + n, 0)).toBe(crm.requests.length);
  });

  it('circuitBreaker: after N failures in a row, nothing goes to the destination for pauseMs', async () => {
    const crm = await sink();
    // Down (503, no Retry-After) for three requests, then back.
    crm.respond = (_request, index) => (index < 3 ? { status: 503, body: 'down' } : { status: 200 });
    const p = await deliverQueued(
      `{name: crm, type: http, url: "${crm.url}", concurrency: 1, ${fastRetry}, circuitBreaker: {failures: 3, pauseMs: 1500}}`,
      [
        'chub-event-incoming-waiting',
        'chub-cdr-incoming-missed',
        'chub-cdr-incoming-answered',
        'chub-event-incoming-hangup',
      ],
    );
    const gaps = crm.requests.slice(1).map((request, index) => request.at - (crm.requests[index]?.at ?? 0));
    // The third failure in a row opened the circuit: the next request waited for pauseMs; the two
    // failures before it did not hold anything.
    expect(gaps[2]).toBeGreaterThanOrEqual(1500);
    expect(Math.max(gaps[0] ?? 0, gaps[1] ?? 0)).toBeLessThan(1500);
    // Four deliveries and the three failed attempts; nothing else was sent.
    expect(crm.requests).toHaveLength(7);
    const attempts = (await p.queue('crm').getJobs(['completed'])).map((job) => job.attemptsMade);
    expect(attempts.reduce((sum, n) => sum + n, 0)).toBe(7);
  });

  it('the same event twice: one delivery and one row', async () => {
    const crm = await sink();
    const warehouse = table();
    const p = await pipeline(`
destinations:
  - {name: crm, type: http, url: "${crm.url}"}
  - {name: warehouse, type: postgres, url: "${PG_URL}", table: ${warehouse}, batch: {size: 10, waitMs: 20}}
`);
    const sample = loadSample('piopiy-cdr-inbound-missed-leg-a');
    const first = await p.post(sample);
    const again = await p.post(sample);
    expect(again.body).toEqual({ id: first.body.id, duplicate: true });
    await waitFor(async () => (await p.queue('warehouse').getCompletedCount()) === 1);
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 1);
    // Give a second delivery every chance to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(crm.requests).toHaveLength(1);
    const rows = await withPg((db) => db.query(`SELECT count(*)::int AS n FROM ${warehouse}`));
    expect(rows.rows[0].n).toBe(1);
  });

  it('a slow destination does not delay another', async () => {
    const slow = await sink();
    slow.respond = () => 'hang';
    const fast = await sink();
    const p = await pipeline(`
destinations:
  - {name: slow, type: http, url: "${slow.url}", timeoutMs: 20000, concurrency: 1}
  - {name: fast, type: http, url: "${fast.url}"}
`);
    for (const name of [
      'chub-event-incoming-waiting',
      'chub-event-incoming-answered',
      'chub-cdr-incoming-answered',
    ]) {
      await p.post(loadSample(name));
    }
    await waitFor(() => fast.requests.length === 3, 5_000);
    // The slow one is still stuck on its first delivery, with the other two waiting behind it.
    expect(slow.requests).toHaveLength(1);
    expect(await p.queue('slow').getWaitingCount()).toBe(2);
  });
});

describe('filters', () => {
  it('give each destination only the events it asks for', async () => {
    const missed = await sink();
    const longCalls = await sink();
    const everything = await sink();
    const p = await pipeline(`
destinations:
  - name: missed
    type: http
    url: ${missed.url}
    filter: {kind: cdr, status: missed, leg: [a]}
  - name: long-calls
    type: http
    url: ${longCalls.url}
    filter: {kind: cdr, status: answered, minAnsweredSec: 10, team: [Sales_2222223, support_2223343]}
  - name: everything
    type: http
    url: ${everything.url}
`);
    const names = [
      'chub-cdr-incoming-answered', // answered 11 s, team Sales
      'chub-cdr-outgoing-answered-leg-a', // answered 15 s, no team
      'chub-cdr-outgoing-missed-leg-a', // missed, leg a
      'chub-cdr-outgoing-missed-leg-b', // missed, leg b
      'chub-event-incoming-waiting',
    ];
    for (const name of names) await p.post(loadSample(name));
    await waitFor(() => everything.requests.length === names.length);
    await waitFor(() => missed.requests.length === 1 && longCalls.requests.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(missed.events<CallEvent>().map((e) => e.callId)).toEqual(['15b58236-734f-4000-a5e8-78284068f5c7']);
    expect(longCalls.events<CallEvent>().map((e) => e.callId)).toEqual([
      '16132200-57fa-47b5-888d-4ab5b7e631ee',
    ]);
  });
});
