import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTrace, traceCall, traceEvent } from '../../src/ops/trace.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { runScript, writeTempConfig } from '../helpers/process.ts';
import { REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { loadSample } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

describe('tracing one event through the forwarder', () => {
  let ok: Sink;
  let flaky: Sink;
  let broken: Sink;
  let p: Pipeline;
  let redis: Redis;
  let configFile: string;
  let eventId: string;
  const trace = (...args: string[]) => runScript('scripts/trace.ts', configFile, args);

  beforeAll(async () => {
    [ok, flaky, broken] = await Promise.all([Sink.start(), Sink.start(), Sink.start()]);
    // Retry-After sets the back-off (full jitter alone would make it random).
    flaky.respond = () => ({ status: 503, headers: { 'retry-after': '600' }, body: 'maintenance' });
    // An endpoint that quotes what it refused: the caller's number reaches the job's error.
    broken.respond = (request) => ({
      status: 404,
      body: `no such hook (from ${(JSON.parse(request.body) as { from: string }).from})`,
    });
    const yaml = `destinations:
  - {name: crm, type: http, url: "${ok.url}"}
  - {name: flaky, type: http, url: "${flaky.url}", retry: {attempts: 5, delayMs: 1000}}
  - {name: broken, type: http, url: "${broken.url}"}
  - {name: live-only, type: http, url: "${ok.url}", filter: {kind: event}}
`;
    p = await startPipeline(yaml);
    redis = new Redis(REDIS_URL);
    configFile = writeTempConfig(`redis: {url: "${REDIS_URL}", prefix: ${p.config.redis.prefix}}\n${yaml}`);
    const answer = await p.post(loadSample('chub-cdr-incoming-answered.json'));
    eventId = answer.body.id;
    await waitFor(async () => {
      const [crm, flakyJob, brokenJob] = await Promise.all(
        ['crm', 'flaky', 'broken'].map((name) => p.queue(name).getJob(`${eventId}.${name}`)),
      );
      return (
        (await crm?.getState()) === 'completed' &&
        (await brokenJob?.getState()) === 'failed' &&
        (await flakyJob?.getState()) === 'delayed'
      );
    }, 15_000);
  });
  afterAll(async () => {
    redis.disconnect();
    await p.stop();
    await Promise.all([ok.close(), flaky.close(), broken.close()]);
  });

  it('says, per destination, what became of it: delivered, retrying, dead or not wanted', async () => {
    const result = await traceEvent(p.config, redis, eventId);
    expect(result.found).toBe(true);
    expect(result.event).toMatchObject({ kind: 'cdr', status: 'answered', provider: 'chub' });
    expect(result.ingest).toEqual({ jobId: expect.any(String), state: 'completed' });
    const byName = Object.fromEntries(result.destinations.map((d) => [d.destination, d]));
    expect(byName.crm).toMatchObject({
      state: 'delivered',
      attemptsMade: 1,
      finishedAt: expect.any(String),
      status: 200,
    });
    expect(byName.flaky).toMatchObject({
      state: 'retrying',
      attemptsMade: 1,
      attempts: 5,
      lastError: 'HTTP 503: maintenance',
      retryDelayMs: 600_000,
    });
    expect(byName.broken).toMatchObject({
      state: 'dead',
      attemptsMade: 1,
      // Masked where it is kept (the dashboard and trace read it), as in the logs.
      lastError: 'HTTP 404: no such hook (from ••••0002)',
      finishedAt: expect.any(String),
    });
    expect(byName['live-only']).toEqual({ destination: 'live-only', state: 'not wanted' });
  });

  it('npm run trace prints one line per destination, without phone numbers', async () => {
    const { code, output } = await trace(eventId);
    expect(code).toBe(0);
    const lines = output.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^event ${eventId}: cdr answered \\(chub\\), call \\S+, received \\S+Z$`),
    );
    expect(lines[1]).toMatch(/^ {2}fan-out +done +\(ingest job \S+\)$/);
    expect(lines.slice(2)).toEqual([
      expect.stringMatching(/^ {2}crm +delivered +after 1 attempt, at \S+Z \(HTTP 200\)$/),
      expect.stringMatching(
        /^ {2}flaky +retrying +1 of 5 attempts failed; the next one waits 10 min: HTTP 503: maintenance$/,
      ),
      expect.stringMatching(
        /^ {2}broken +dead +after 1 attempt, at \S+Z: HTTP 404: no such hook \(from ••••0002\) \(npm run replay -- --destination broken\)$/,
      ),
      expect.stringMatching(/^ {2}live-only +not wanted +its filter does not take this event$/),
    ]);
    const sample = loadSample('chub-cdr-incoming-answered.json');
    for (const number of [sample.from, sample.to]) expect(output).not.toContain(String(number));
  });

  it('--json prints the same as one JSON object per event', async () => {
    const { code, output } = await trace('--json', eventId);
    expect(code).toBe(0);
    expect(JSON.parse(output)).toEqual(
      JSON.parse(JSON.stringify(await traceEvent(p.config, redis, eventId))),
    );
  });

  it('an id Redis knows nothing of: says so and exits 1; no id at all: usage, exit 2', async () => {
    const unknown = '0123456789abcdef0123456789abcdef';
    expect(await trace(unknown)).toEqual({
      code: 1,
      output: `event ${unknown}: not found (never received, or older than what Redis keeps)`,
    });
    const none = await trace();
    expect(none.code).toBe(2);
    expect(none.output).toContain('usage: npm run trace -- EVENT_ID');
    const empty = await trace('--call', '');
    expect(empty.code).toBe(2);
    expect(empty.output).toMatch(/^trace: an empty id was given\nusage: npm run trace -- EVENT_ID/);
  });

  it('--call finds every event of a call, by its call id or by its conversation id', async () => {
    // An incoming call waiting then answered, and the leg of the agent who answered it (its own
    // cmiuuid; the caller's as conversation_uuid).
    const names = [
      'chub-event-incoming-waiting',
      'chub-event-incoming-answered',
      'chub-event-agent-answered',
    ];
    const ids: string[] = [];
    for (const name of names) ids.push((await p.post(loadSample(`${name}.json`))).body.id);
    await waitFor(async () => {
      const jobs = await Promise.all(ids.map((id) => p.queue('crm').getJob(`${id}.crm`)));
      return (await Promise.all(jobs.map((job) => job?.getState()))).every((state) => state === 'completed');
    });
    const conversation = String(loadSample('chub-event-incoming-waiting.json').cmiuuid);
    const agentLeg = String(loadSample('chub-event-agent-answered.json').cmiuuid);

    const whole = await traceCall(p.config, redis, conversation);
    expect(whole.call).toBe(conversation);
    expect(whole.events.map((event) => event.eventId).sort()).toEqual([...ids].sort());
    const received = whole.events.map((event) => Date.parse(event.event?.receivedAt ?? ''));
    expect(received).toEqual([...received].sort((a, b) => a - b));
    expect(whole.events.every((event) => event.destinations[0]?.state === 'delivered')).toBe(true);
    // By the agent's leg: that leg's event alone.
    expect((await traceCall(p.config, redis, agentLeg)).events.map((event) => event.eventId)).toEqual([
      ids[2],
    ]);

    const { code, output } = await trace('--call', conversation);
    expect(code).toBe(0);
    const blocks = output.split('\n\n');
    expect(blocks[0]).toBe(`call ${conversation}: 3 events`);
    expect(blocks.slice(1).map((block) => block.split('\n')[0]?.split(':')[0])).toEqual(
      whole.events.map((event) => `event ${event.eventId}`),
    );
    expect(await trace('--call', 'no-such-call')).toEqual({
      code: 1,
      output:
        'call no-such-call: no events found (not fanned out yet, or older than the 7 days retention.deliveredDays keeps)',
    });
  });

  it('an event not fanned out yet is "awaiting fan-out" everywhere', async () => {
    const stalled = await startPipeline(`destinations:\n  - {name: crm, type: http, url: "${ok.url}"}\n`, {
      roles: 'crm',
    });
    try {
      const { body } = await stalled.post(loadSample('chub-cdr-incoming-missed.json'));
      const result = await traceEvent(stalled.config, redis, body.id);
      expect(result.ingest?.state).toBe('waiting');
      expect(result.event).toMatchObject({ kind: 'cdr', status: 'missed' });
      expect(result.destinations).toEqual([{ destination: 'crm', state: 'awaiting fan-out' }]);
    } finally {
      await stalled.stop();
    }
  });

  it('a delivery waiting in a paused queue is "paused"', async () => {
    const paused = await startPipeline(`destinations:\n  - {name: crm, type: http, url: "${ok.url}"}\n`);
    try {
      // Paused from the queue dashboard, say: deliveries wait, nothing is lost.
      await paused.queue('crm').pause();
      const { body } = await paused.post(loadSample('chub-cdr-incoming-missed.json'));
      await waitFor(async () => (await paused.queue('crm').getWaitingCount()) === 1);
      const result = await traceEvent(paused.config, redis, body.id);
      expect(result.destinations).toEqual([
        { destination: 'crm', state: 'paused', attemptsMade: 0, attempts: 16 },
      ]);
      expect(formatTrace(result).split('\n').pop()).toMatch(
        /^ {2}crm +paused +not sent yet: the destination's queue is paused; resume it in the queue dashboard$/,
      );
    } finally {
      await paused.stop();
    }
  });

  it('a delivery held back by a Retry-After is "held"', async () => {
    const limited = await Sink.start();
    limited.respond = () => ({ status: 429, headers: { 'retry-after': '600' }, body: 'slow down' });
    const held = await startPipeline(
      `destinations:\n  - {name: chat, type: http, url: "${limited.url}", concurrency: 1}\n`,
    );
    try {
      const [first, second] = [
        await held.post(loadSample('chub-cdr-incoming-missed.json')),
        await held.post(loadSample('chub-cdr-incoming-answered.json')),
      ];
      // The first is refused (a retry in 10 min); the second is not sent during the hold.
      const queue = held.queue('chat');
      await waitFor(async () => {
        const counts = await queue.getJobCounts('delayed', 'waiting');
        const delayed = counts.delayed ?? 0;
        return delayed >= 1 && delayed + (counts.waiting ?? 0) === 2;
      });
      expect(limited.requests).toHaveLength(1);
      const refused = limited.requests[0]?.headers['webhook-id'];
      const other = refused === first.body.id ? second.body.id : first.body.id;
      const before = Date.now();
      const result = await traceEvent(held.config, redis, other);
      const [trace] = result.destinations;
      expect(trace).toMatchObject({ destination: 'chat', state: 'held', attemptsMade: 0, attempts: 16 });
      // The hold ends 10 min after the 429, which came before this trace.
      const heldUntil = Date.parse(trace?.heldUntil ?? '');
      expect(heldUntil).toBeLessThanOrEqual(Date.now() + 600_000);
      expect(heldUntil).toBeGreaterThan(before + 590_000);
      const line = formatTrace(result).split('\n').pop();
      expect(line).toMatch(
        /^ {2}chat +held +not sent yet: the destination is on hold \(a Retry-After, or its circuit breaker\) until /,
      );
      expect(line?.endsWith(` until ${trace?.heldUntil}`)).toBe(true);
    } finally {
      await held.stop();
      await limited.close();
    }
  });
});
