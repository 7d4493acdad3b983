import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { destinationQueueName, INGEST_QUEUE } from '../../src/queue/names.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { runScript, type Spawned, spawnEntry, writeTempConfig } from '../helpers/process.ts';
import { uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, OwnRedis, REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { sampleEvent } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

async function setup(destinations: string) {
  const prefix = uniquePrefix('proc');
  const config = writeTempConfig(
    `redis: {url: "${REDIS_URL}", prefix: ${prefix}}\nworkers: {stalledIntervalMs: 500}\ndestinations:\n${destinations}`,
  );
  const connection = new Redis(REDIS_URL);
  const queues = new Map<string, Queue<CallEvent>>();
  const queue = (name: string) => {
    const existing = queues.get(name);
    if (existing) return existing;
    const created = new Queue<CallEvent>(name, { connection, prefix });
    queues.set(name, created);
    return created;
  };
  const spawned: Spawned[] = [];
  const worker = (args: string[] = [], env: Record<string, string> = {}) => {
    const run = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: config, ...env }, args);
    spawned.push(run);
    return run;
  };
  cleanups.push(async () => {
    for (const run of spawned) run.child.kill('SIGKILL');
    for (const q of queues.values()) await q.close();
    connection.disconnect();
    await deletePrefix(REDIS_URL, prefix);
  });
  return { queue, worker };
}

describe('worker processes', () => {
  it('a worker killed with SIGKILL mid-delivery: the job is delivered after a new worker starts', async () => {
    const crm = await Sink.start();
    cleanups.push(() => crm.close());
    crm.respond = () => 'hang';
    const { queue, worker } = await setup(
      `  - {name: crm, type: http, url: "${crm.url}", timeoutMs: 2000}\n`,
    );

    const first = worker();
    const call = sampleEvent('chub-cdr-incoming-answered');
    await queue(INGEST_QUEUE).add(call.kind, call, { jobId: `${call.id}-x` });
    await waitFor(() => crm.requests.length === 1, 20_000);
    first.child.kill('SIGKILL');
    await first.exited;

    crm.respond = () => ({ status: 200 });
    const second = worker();
    const deliveries = queue(destinationQueueName('crm'));
    await waitFor(async () => (await deliveries.getCompletedCount()) === 1, 30_000);
    const delivered = crm.requests.filter((r) => r.headers['webhook-id'] === call.id);
    expect(delivered.length).toBeGreaterThanOrEqual(2);
    expect(await deliveries.getFailedCount()).toBe(0);
    // The operator sees that a delivery was taken back from a worker that stopped.
    const takenBack = second
      .output()
      .split('\n')
      .filter((line) => line.includes('taken back'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(takenBack).toContainEqual(
      expect.objectContaining({ destination: 'crm', jobId: `${call.id}.crm`, level: 40 }),
    );
  });

  it('--only runs just the named destinations', async () => {
    const crm = await Sink.start();
    const chat = await Sink.start();
    cleanups.push(
      () => crm.close(),
      () => chat.close(),
    );
    const { queue, worker } = await setup(
      `  - {name: crm, type: http, url: "${crm.url}"}\n  - {name: chat, type: http, url: "${chat.url}"}\n`,
    );
    const run = worker(['--only', 'fanout,crm']);
    const call = sampleEvent('chub-cdr-incoming-missed');
    await queue(INGEST_QUEUE).add(call.kind, call, { jobId: `${call.id}-x` });
    await waitFor(() => crm.requests.length === 1, 20_000);
    // The fan-out made chat's job too, but no worker here takes it.
    await waitFor(async () => (await queue(destinationQueueName('chat')).getWaitingCount()) === 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(chat.requests).toHaveLength(0);
    expect(run.output()).toContain('"roles":["fanout","crm"]');
  });

  it('a worker told to stop while Redis is away stops at once, all its workers together, exit 0', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop('SIGKILL'));
    const crm = await Sink.start();
    cleanups.push(() => crm.close());
    const config = writeTempConfig(
      `redis: {url: "${redis.url}"}\ndestinations:\n  - {name: crm, type: http, url: "${crm.url}"}\n  - {name: archive, type: file, path: /tmp/cdrf-unused}\n`,
    );
    // Past the test's own time limit, so that a shutdown that waits for it is told apart.
    const run = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: config, SHUTDOWN_TIMEOUT_MS: '60000' });
    cleanups.push(() => run.child.kill('SIGKILL'));
    await waitFor(() => run.output().includes('workers started'), 20_000);
    await redis.stop();
    await waitFor(() => run.output().split('Redis connection lost').length - 1 === 3, 10_000);
    // Each connection is between two reconnects by now: BullMQ waited for it to end, for ever.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('"msg":"stopped"');
  });

  it('a worker told to stop while Redis is away with a delivery in flight records it once Redis is back, then stops: made once', async () => {
    const redis = await OwnRedis.start(['--appendonly', 'yes', '--appendfsync', 'always', '--save', '']);
    cleanups.push(() => redis.stop('SIGKILL'));
    const crm = await Sink.start();
    cleanups.push(() => crm.close());
    let answerCrm: (answer: { status: number }) => void = () => {};
    crm.respond = () => new Promise((resolve) => (answerCrm = resolve));
    const config = writeTempConfig(
      `redis: {url: "${redis.url}"}\ndestinations:\n  - {name: crm, type: http, url: "${crm.url}"}\n`,
    );
    const run = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: config, SHUTDOWN_TIMEOUT_MS: '60000' });
    cleanups.push(() => run.child.kill('SIGKILL'));
    await waitFor(() => run.output().includes('workers started'), 20_000);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    connection.on('error', () => {});
    const ingest = new Queue(INGEST_QUEUE, { connection, prefix: 'cdrf' });
    ingest.on('error', () => {});
    const call = sampleEvent('chub-cdr-incoming-answered');
    await ingest.add(call.kind, call, { jobId: `${call.id}-x` });
    await waitFor(() => crm.requests.length === 1, 20_000);

    // The delivery is in flight; Redis goes away; the worker is told to stop; Redis is back; the
    // CRM answers.
    await redis.stop();
    await waitFor(() => run.output().includes('Redis connection lost'), 10_000);
    run.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await redis.start();
    answerCrm({ status: 200 });
    expect(await run.exited).toBe(0);
    const deliveries = new Queue(destinationQueueName('crm'), { connection, prefix: 'cdrf' });
    expect(await deliveries.getJobCounts('completed', 'active', 'waiting')).toEqual({
      completed: 1,
      active: 0,
      waiting: 0,
    });
    expect(crm.requests).toHaveLength(1);
    await deliveries.close();
    await ingest.close();
    connection.disconnect();
  });

  it('--only with an unknown name stops with a message listing the names', async () => {
    const { worker } = await setup(`  - {name: crm, type: file, path: /tmp/cdrf-unused}\n`);
    const run = worker(['--only', 'crm,nope']);
    expect(await run.exited).toBe(2);
    expect(run.output().trim()).toBe(
      'cdr-forwarder: --only: unknown name(s) nope; expected some of fanout, crm',
    );
  });

  it('an unknown flag stops it with the usage, exit 2, no stack trace', async () => {
    const { worker } = await setup(`  - {name: crm, type: file, path: /tmp/cdrf-unused}\n`);
    const run = worker(['--onyl', 'crm']);
    expect(await run.exited).toBe(2);
    const lines = run.output().trim().split('\n');
    expect(lines[0]).toMatch(/^cdr-forwarder: Unknown option '--onyl'/);
    expect(lines.slice(1)).toEqual(['usage: npm run worker [-- --only fanout,NAME,...]']);
  });

  it('a LOG_LEVEL that names no level stops it in one line, exit 2', async () => {
    const { worker } = await setup(`  - {name: crm, type: file, path: /tmp/cdrf-unused}\n`);
    const run = worker([], { LOG_LEVEL: 'warning' });
    expect(await run.exited).toBe(2);
    expect(run.output().trim()).toBe(
      'cdr-forwarder: LOG_LEVEL: "warning" is not a level; expected one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('--help prints the usage and exits 0, for the worker, the receiver, npm start and each operator command', async () => {
    const { worker } = await setup(`  - {name: crm, type: file, path: /tmp/cdrf-unused}\n`);
    const run = worker(['--help']);
    expect(await run.exited).toBe(0);
    expect(run.output().trim()).toBe('usage: npm run worker [-- --only fanout,NAME,...]');
    const config = writeTempConfig('destinations: []\n');
    for (const [entry, usage] of [
      ['workers/receiver.ts', 'usage: npm run receiver   (it takes no flags: see README, Configuration)'],
      ['workers/all.ts', 'usage: npm start   (it takes no flags: see README, Configuration)'],
    ] as const) {
      const help = spawnEntry(entry, { FORWARDER_CONFIG: config }, ['--help']);
      expect({ entry, code: await help.exited, output: help.output().trim() }).toEqual({
        entry,
        code: 0,
        output: usage,
      });
      // A flag they do not take: the usage, exit 2, and nothing started.
      const wrong = spawnEntry(entry, { FORWARDER_CONFIG: config }, ['--only', 'crm']);
      expect({ entry, code: await wrong.exited, output: wrong.output().trim() }).toEqual({
        entry,
        code: 2,
        output: `cdr-forwarder: Unknown option '--only'\n${usage}`,
      });
    }
    for (const [script, usage] of [
      ['replay', /^usage: npm run replay -- --destination NAME/],
      ['trace', /^usage: npm run trace -- EVENT_ID/],
      ['ledger', /^usage: npm run ledger/],
      ['backfill', /^usage: npm run backfill -- --destination NAME/],
    ] as const) {
      const { code, output } = await runScript(`scripts/${script}.ts`, config, ['-h']);
      expect({ script, code, output }).toEqual({ script, code: 0, output: expect.stringMatching(usage) });
    }
  });
});
