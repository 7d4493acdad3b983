import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLedger, readLedger } from '../../src/ops/ledger.ts';
import { destinationQueueName } from '../../src/queue/names.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
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
      { name: 'crm', routed: 10, delivered: 10, dead: 0, pending: 0, missing: 0, trimmed: 5 },
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
      { name: 'crm', routed: 10, delivered: 10, dead: 0, pending: 0, missing: 1, trimmed: 5 },
    ]);
    expect(books.balanced).toBe(false);
  });
});
