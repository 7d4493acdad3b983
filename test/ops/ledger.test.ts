import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLedger, readLedger } from '../../src/ops/ledger.ts';
import { recordJobCleaned, recordStateCleaned } from '../../src/queue/cleaned.ts';
import { destinationQueueName } from '../../src/queue/names.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { runScript, spawnEntry, writeTempConfig } from '../helpers/process.ts';
import { REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { loadSample } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

describe('the ledger', () => {
  let crm: Sink;
  let p: Pipeline;
  let redis: Redis;
  const queues: Queue[] = [];
  const ledger = () =>
    readLedger(
      p.config,
      redis,
      (name) => {
        const queue = new Queue(name, { connection: redis, prefix: p.config.redis.prefix });
        queues.push(queue);
        return queue;
      },
      0,
    );
  const sample = loadSample('chub-cdr-incoming-answered');
  const post = (i: number) => p.post({ ...sample, cmiuuid: `ledger-${i}` });

  beforeAll(async () => {
    crm = await Sink.start();
    redis = new Redis(REDIS_URL);
    // A destination that keeps only its last 10 deliveries, as a busy one keeps its last 100,000.
    p = await startPipeline(`
retention: {deliveredMax: 10}
destinations:
  - {name: crm, type: http, url: "${crm.url}"}
`);
  });
  afterAll(async () => {
    for (const queue of queues) await queue.close();
    await p.stop();
    await crm.close();
    redis.disconnect();
  });

  it('counts deliveries trimmed by retention as trimmed, not missing', async () => {
    for (let i = 0; i < 15; i++) await post(i);
    await waitFor(() => crm.requests.length === 15);
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 10);
    const books = await ledger();
    expect(books.received).toBe(15);
    expect(books.destinations).toEqual([
      { name: 'crm', routed: 10, delivered: 10, dead: 0, pending: 0, missing: 0, trimmed: 5, cleaned: 0 },
    ]);
    expect(books.balanced).toBe(true);
  });

  it('reports deliveries left in the queue of a destination no longer in the config', async () => {
    // `crm` was called `oldcrm` before: its queue still holds a delivery nobody will make.
    const old = new Queue(destinationQueueName('oldcrm'), {
      connection: redis,
      prefix: p.config.redis.prefix,
    });
    queues.push(old);
    await old.add('cdr', { id: 'stranded' }, { jobId: 'stranded.oldcrm' });
    const books = await ledger();
    expect(books.orphans).toEqual([{ destination: 'oldcrm', pending: 1, delivered: 0, dead: 0 }]);
    expect(books.balanced).toBe(false);
    expect(formatLedger(books)).toContain(
      'oldcrm: not in the config, its queue holds 1 pending, 0 dead, 0 delivered (no worker delivers them: put it back in the config, or give them up: npm run drop-queue -- --destination oldcrm)',
    );
    // Once it holds no job (its deliveries made or cleaned), it is no longer listed.
    await (await old.getJob('stranded.oldcrm'))?.remove();
    expect(await redis.exists(`${p.config.redis.prefix}:deliver.oldcrm:meta`)).toBe(1);
    expect((await ledger()).orphans).toEqual([]);
    await old.obliterate({ force: true });
  });

  it('still finds a delivery missing among those retention keeps', async () => {
    // One recent delivery disappears (not by retention); the next delivery trims the set to 10 again.
    const [newest] = await p.queue('crm').getJobs(['completed'], 0, 0);
    await newest?.remove();
    await post(15);
    await waitFor(() => crm.requests.length === 16);
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 10);
    const books = await ledger();
    expect(books.destinations).toEqual([
      { name: 'crm', routed: 10, delivered: 10, dead: 0, pending: 0, missing: 1, trimmed: 5, cleaned: 0 },
    ]);
    expect(books.balanced).toBe(false);
  });

  it('counts deliveries cleaned from the queue dashboard as cleaned, not missing', async () => {
    const queue = p.queue('crm');
    const prefix = p.config.redis.prefix;
    // The one missing since the last test, removed by hand from the dashboard (as recorded there).
    const books = await ledger();
    expect(books.destinations[0]?.missing).toBe(1);
    const [kept] = await queue.getJobs(['completed'], 0, 0);
    await kept?.remove();
    await recordJobCleaned(redis, prefix, queue.name, kept?.id ?? '');
    expect((await ledger()).destinations[0]).toMatchObject({
      delivered: 9,
      missing: 1,
      trimmed: 5,
      cleaned: 1,
    });
    // "Clean all" of the delivered ones: everything that had finished by then.
    await queue.clean(0, Number.MAX_SAFE_INTEGER, 'completed');
    await recordStateCleaned(redis, prefix, queue.name);
    // Nothing is kept to tell what retention trimmed before: every delivery gone reads as cleaned.
    const after = await ledger();
    expect(after.destinations).toEqual([
      { name: 'crm', routed: 0, delivered: 0, dead: 0, pending: 0, missing: 0, trimmed: 0, cleaned: 16 },
    ]);
    expect(after.balanced).toBe(true);
    // A delivery that goes missing after the clean is still found.
    await post(16);
    await waitFor(async () => (await queue.getCompletedCount()) === 1);
    const [latest] = await queue.getJobs(['completed'], 0, 0);
    await latest?.remove();
    expect((await ledger()).destinations[0]).toMatchObject({ missing: 1, cleaned: 16 });
  });
});

describe('npm run ledger -- --strict', () => {
  it('exits 1 while a delivery is dead, and says how to send it again', async () => {
    const crm = await Sink.start();
    crm.respond = () => ({ status: 400, body: 'no such agent' });
    const p = await startPipeline(`destinations:\n  - {name: crm, type: http, url: "${crm.url}"}\n`);
    try {
      await p.post(loadSample('chub-cdr-incoming-answered'));
      await waitFor(async () => (await p.queue('crm').getFailedCount()) === 1);
      const config = writeTempConfig(
        `redis: {url: "${REDIS_URL}", prefix: ${p.config.redis.prefix}}\ndestinations:\n  - {name: crm, type: http, url: "${crm.url}"}\n`,
      );
      // Balanced (a dead delivery is accounted for): 0 without --strict.
      expect((await runScript('scripts/ledger.ts', config)).code).toBe(0);
      const strict = await runScript('scripts/ledger.ts', config, ['--strict']);
      expect(strict.code).toBe(1);
      expect(strict.output.split('\n').at(-1)).toBe(
        'strict: 1 dead delivery (crm 1): npm run replay -- --destination crm sends them again',
      );
      // With --json, what stdout holds is the JSON alone.
      const json = spawnEntry('scripts/ledger.ts', { FORWARDER_CONFIG: config, LOG_LEVEL: 'silent' }, [
        '--json',
        '--strict',
      ]);
      let stdout = '';
      json.child.stdout?.on('data', (chunk) => {
        stdout += chunk;
      });
      expect(await json.exited).toBe(1);
      expect(JSON.parse(stdout)).toMatchObject({ balanced: true, destinations: [{ name: 'crm', dead: 1 }] });
      // Sent again and delivered: 0 again.
      crm.respond = () => ({ status: 200 });
      const [dead] = await p.queue('crm').getFailed();
      await dead?.retry();
      await waitFor(async () => (await p.queue('crm').getCompletedCount()) === 1);
      expect((await runScript('scripts/ledger.ts', config, ['--strict'])).code).toBe(0);
    } finally {
      await p.stop();
      await crm.close();
    }
  });
});
