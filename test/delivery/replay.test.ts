import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { runScript, writeTempConfig } from '../helpers/process.ts';
import { REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { listSamples, loadSample, sampleEvent } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

describe('npm run replay', () => {
  let crm: Sink;
  let p: Pipeline;
  let configFile: string;
  const replay = (...args: string[]) => runScript('scripts/replay.ts', configFile, args);

  beforeAll(async () => {
    crm = await Sink.start();
    // Down for longer than its retries: every delivery ends dead. CDRs get 503 and live events 500,
    // so that --status can tell them apart.
    crm.respond = (request) =>
      JSON.parse(request.body).kind === 'cdr'
        ? { status: 503, body: 'maintenance' }
        : { status: 500, body: 'boom' };
    const yaml = `destinations:\n  - {name: crm, type: http, url: "${crm.url}", retry: {attempts: 2, delayMs: 10}}\n`;
    p = await startPipeline(yaml);
    configFile = writeTempConfig(`redis: {url: "${REDIS_URL}", prefix: ${p.config.redis.prefix}}\n${yaml}`);
    for (const name of listSamples().slice(0, 10)) await p.post(loadSample(name));
    await waitFor(async () => (await p.queue('crm').getFailedCount()) === 10, 15_000);
  });
  afterAll(async () => {
    await p.stop();
    await crm.close();
  });

  it('--dry-run counts the matching dead deliveries and re-queues nothing', async () => {
    const all = await replay('--destination', 'crm', '--dry-run');
    expect(all).toEqual({ code: 0, output: 'dry run: 10 dead deliveries of crm match; nothing re-queued' });
    const cdrs = await replay('--destination', 'crm', '--status', '503', '--dry-run');
    expect(cdrs.output).toBe('dry run: 7 dead deliveries of crm match; nothing re-queued');
    const future = await replay(
      '--destination',
      'crm',
      '--since',
      new Date(Date.now() + 60_000).toISOString(),
      '--dry-run',
    );
    expect(future.output).toBe('dry run: 0 dead deliveries of crm match; nothing re-queued');
    const past = await replay('--destination', 'crm', '--until', '2020-01-01T00:00:00Z', '--dry-run');
    expect(past.output).toBe('dry run: 0 dead deliveries of crm match; nothing re-queued');
    expect(await p.queue('crm').getFailedCount()).toBe(10);
  });

  it('re-queues the matching ones, which are then delivered with the same webhook-id', async () => {
    crm.respond = () => ({ status: 200 });
    const before = crm.requests.length;
    const result = await replay('--destination', 'crm', '--status', '500-599');
    expect(result).toEqual({ code: 0, output: 're-queued 10 dead deliveries of crm' });
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 10, 10_000);
    expect(await p.queue('crm').getFailedCount()).toBe(0);
    const replayed = crm.requests.slice(before);
    expect(replayed).toHaveLength(10);
    const firstIds = new Set(crm.requests.slice(0, before).map((r) => r.headers['webhook-id']));
    for (const request of replayed) expect(firstIds.has(request.headers['webhook-id'])).toBe(true);
    // What it was before the replay stays on the job (its log, shown by the dashboard) and in trace.
    const id = String(replayed[0]?.headers['webhook-id']);
    const { logs } = await p.queue('crm').getJobLogs(`${id}.crm`);
    expect(logs).toEqual([
      expect.stringMatching(
        /^replayed at \S+Z: it was dead after 2 attempts: HTTP 50[03]: (maintenance|boom)$/,
      ),
    ]);
    const traced = await runScript('scripts/trace.ts', configFile, [id]);
    expect(traced.output).toMatch(
      /\n {2}crm +delivered +after 1 attempt, at \S+Z \(HTTP 200\); replayed once: it was dead after 2 attempts: HTTP 50[03]: (maintenance|boom)$/,
    );
  });

  it('--delivered sends delivered ones again (a CRM restored from a backup), with the same webhook-id', async () => {
    // The ten replayed above were delivered in the last minute; nothing was delivered before 2020.
    const none = await replay('--destination', 'crm', '--delivered', '--until', '2020-01-01T00:00:00Z');
    expect(none).toEqual({ code: 0, output: 're-queued 0 delivered deliveries of crm' });
    const count = await replay('--destination', 'crm', '--delivered', '--dry-run');
    expect(count.output).toBe('dry run: 10 delivered deliveries of crm match; nothing re-queued');
    const before = crm.requests.length;
    const since = new Date(Date.now() - 60_000).toISOString();
    const result = await replay('--destination', 'crm', '--delivered', '--since', since);
    expect(result).toEqual({ code: 0, output: 're-queued 10 delivered deliveries of crm' });
    await waitFor(() => crm.requests.length === before + 10, 10_000);
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 10, 10_000);
    const again = crm.requests.slice(before).map((r) => r.headers['webhook-id']);
    const earlier = new Set(crm.requests.slice(0, before).map((r) => r.headers['webhook-id']));
    expect(new Set(again).size).toBe(10);
    for (const id of again) expect(earlier.has(id)).toBe(true);
    // A delivered delivery has no failing status to filter on.
    const status = await replay('--destination', 'crm', '--delivered', '--status', '5xx');
    expect(status).toEqual({
      code: 2,
      output: 'replay: --status filters dead deliveries by their last answer; a delivered one has none',
    });
  });

  it("--call sends one call's deliveries again, by its call or conversation id", async () => {
    const events = listSamples()
      .slice(0, 10)
      .map((name) => sampleEvent(name));
    // A conversation with more than one event among those posted.
    const call = events
      .map((event) => event.conversationId)
      .find((id) => events.filter((event) => event.conversationId === id).length > 1);
    if (!call) throw new Error('no conversation with two events among the samples');
    const ofCall = new Set(
      events
        .filter((event) => event.callId === call || event.conversationId === call)
        .map((event) => event.id),
    );
    const count = await replay('--destination', 'crm', '--delivered', '--call', call, '--dry-run');
    expect(count.output).toBe(`dry run: ${ofCall.size} delivered deliveries of crm match; nothing re-queued`);
    // None of this call's deliveries is dead.
    expect((await replay('--destination', 'crm', '--call', call)).output).toBe(
      're-queued 0 dead deliveries of crm',
    );
    const before = crm.requests.length;
    const result = await replay('--destination', 'crm', '--delivered', '--call', call);
    expect(result).toEqual({ code: 0, output: `re-queued ${ofCall.size} delivered deliveries of crm` });
    await waitFor(() => crm.requests.length === before + ofCall.size, 10_000);
    expect(new Set(crm.requests.slice(before).map((r) => r.headers['webhook-id']))).toEqual(ofCall);
    const unknown = await replay('--destination', 'crm', '--delivered', '--call', 'no-such-call');
    expect(unknown).toEqual({ code: 0, output: 're-queued 0 delivered deliveries of crm' });
  });

  it('says what is wrong with its flags', async () => {
    expect(await replay('--destination', 'nope')).toEqual({
      code: 2,
      output: 'replay: unknown destination "nope"; one of: crm',
    });
    const badStatus = await replay('--destination', 'crm', '--status', 'five hundred');
    expect(badStatus.code).toBe(2);
    expect(badStatus.output).toContain('--status');
    const badDate = await replay('--destination', 'crm', '--since', 'yesterday');
    expect(badDate.output).toContain('--since');
    expect(await replay('--destination', 'crm', '--call', '')).toEqual({
      code: 2,
      output: 'replay: --call: expected a call id (cmiuuid) or conversation id; got an empty one',
    });
  });
});

describe('npm run replay --status none', () => {
  it('selects the dead deliveries that got no HTTP answer (time-outs, refused connections)', async () => {
    const answering = await Sink.start();
    answering.respond = () => ({ status: 500, body: 'boom' });
    const closed = await Sink.start();
    const unreachable = closed.url;
    await closed.close();
    const yaml = `destinations:
  - {name: crm, type: http, url: "${unreachable}", retry: {attempts: 1}}
  - {name: other, type: http, url: "${answering.url}", retry: {attempts: 1}}
`;
    const p = await startPipeline(yaml);
    try {
      const configFile = writeTempConfig(
        `redis: {url: "${REDIS_URL}", prefix: ${p.config.redis.prefix}}\n${yaml}`,
      );
      const replay = (...args: string[]) => runScript('scripts/replay.ts', configFile, args);
      await p.post(loadSample('chub-cdr-incoming-answered'));
      await waitFor(async () => (await p.queue('crm').getFailedCount()) === 1, 10_000);
      await waitFor(async () => (await p.queue('other').getFailedCount()) === 1, 10_000);
      const dryRun = (destination: string, status: string) =>
        replay('--destination', destination, '--status', status, '--dry-run').then((result) => result.output);
      expect(await dryRun('crm', 'none')).toBe('dry run: 1 dead delivery of crm matches; nothing re-queued');
      expect(await dryRun('crm', '5xx')).toBe('dry run: 0 dead deliveries of crm match; nothing re-queued');
      expect(await dryRun('other', 'none')).toBe(
        'dry run: 0 dead deliveries of other match; nothing re-queued',
      );
      expect(await dryRun('other', '5xx')).toBe(
        'dry run: 1 dead delivery of other matches; nothing re-queued',
      );
    } finally {
      await p.stop();
      await answering.close();
    }
  });
});
