import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFanout, startFanout } from '../../src/fanout/worker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import {
  type IngestJobData,
  type IngestJobResult,
  IngestWriter,
  ingestQueue,
} from '../../src/queue/ingest.ts';
import { deliveryJobId, destinationQueueName } from '../../src/queue/names.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { capturingLogger } from '../helpers/logger.ts';
import { silentLogger, testConfig } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { sampleEvent } from '../helpers/samples.ts';

function callEvent(callId: string, sample: string): CallEvent {
  return sampleEvent(sample, { fields: { cmiuuid: callId } });
}

describe('fan-out', () => {
  const config = testConfig(`
destinations:
  - {name: crm, type: http, url: "http://127.0.0.1:9/"}
  - {name: missed, type: http, url: "http://127.0.0.1:9/", filter: {status: missed}}
`);
  const prefix = config.redis.prefix;
  let redis: Redis;
  let ingest: Queue<IngestJobData, IngestJobResult>;
  let fanout: RunningFanout;
  const deliveries = (name: string) => new Queue(destinationQueueName(name), { connection: redis, prefix });

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    ingest = ingestQueue(redis, prefix, config.retention) as Queue<IngestJobData, IngestJobResult>;
    fanout = startFanout(config, silentLogger);
  });
  afterAll(async () => {
    await fanout.close();
    await ingest.close();
    redis.disconnect();
    await deletePrefix(REDIS_URL, prefix);
  });

  it('gives each notification of a job one delivery job per destination that wants it', async () => {
    const writer = new IngestWriter(ingest, redis, { dedupeWindowMs: 60_000 });
    const answered = callEvent('fan-1', 'chub-cdr-incoming-answered.json');
    const missed = callEvent('fan-2', 'chub-cdr-incoming-missed.json');
    await Promise.all([writer.write(answered), writer.write(missed)]);
    await waitFor(async () => (await ingest.getJobCounts('completed')).completed === 2);

    const crm = deliveries('crm');
    const onlyMissed = deliveries('missed');
    expect((await crm.getJobs(['waiting'])).map((job) => job.id).sort()).toEqual(
      [deliveryJobId(answered.id, 'crm'), deliveryJobId(missed.id, 'crm')].sort(),
    );
    expect((await onlyMissed.getJobs(['waiting'])).map((job) => job.id)).toEqual([
      deliveryJobId(missed.id, 'missed'),
    ]);
    // The delivery job carries the canonical event, as the receiver built it.
    expect((await crm.getJob(deliveryJobId(missed.id, 'crm')))?.data).toEqual(missed);
    await Promise.all([crm.obliterate({ force: true }), onlyMissed.obliterate({ force: true })]);
  });

  it('skips the copy of a notification that raced its first copy into the queue', async () => {
    const event = callEvent('raced-fan', 'chub-cdr-incoming-answered.json');
    const first = new IngestWriter(ingest, redis, { dedupeWindowMs: 60_000 });
    const second = new IngestWriter(ingest, redis, { dedupeWindowMs: 60_000 });
    const answers = await Promise.all([first.write(event), second.write(event)]);
    const loser = answers.find((answer) => answer.duplicate);
    expect(loser).toBeDefined();
    await waitFor(async () => (await ingest.getJob(loser?.jobId as string))?.finishedOn !== undefined);

    expect((await ingest.getJob(loser?.jobId as string))?.returnvalue).toEqual({
      routed: 0,
      duplicates: [event.id],
    });
    const crm = deliveries('crm');
    await waitFor(async () => (await crm.count()) === 1);
    expect((await crm.getJobs(['waiting'])).map((job) => job.id)).toEqual([deliveryJobId(event.id, 'crm')]);
    await crm.obliterate({ force: true });
  });

  it('still reads a job that holds one call event (as written before jobs held several)', async () => {
    const event = callEvent('single-event-job', 'chub-cdr-incoming-missed.json');
    await ingest.add(event.kind, event as unknown as IngestJobData, { jobId: `${event.id}-legacy` });
    const crm = deliveries('crm');
    await waitFor(async () => (await crm.getJob(deliveryJobId(event.id, 'crm'))) !== undefined);
    expect((await crm.getJob(deliveryJobId(event.id, 'crm')))?.data).toEqual(event);
  });
});

describe('fan-out of a job with a notification it cannot read', () => {
  it('routes the rest, logs where they went, and fails the job naming the one it could not read', async () => {
    const config = testConfig('destinations:\n  - {name: crm, type: http, url: "http://127.0.0.1:9/"}\n');
    const redis = new Redis(REDIS_URL);
    const ingest = ingestQueue(redis, config.redis.prefix, config.retention);
    const { logger, lines } = capturingLogger();
    const fanout = startFanout(config, logger);
    try {
      const event = callEvent('readable-one', 'chub-cdr-incoming-answered.json');
      const readable = { id: event.id, receivedAt: event.receivedAt, raw: event.raw };
      const unreadable = { id: 'no-call-id', receivedAt: event.receivedAt, raw: { type: 'cdr' } };
      const job = await ingest.add('notifications', { notifications: [readable, unreadable] });
      await waitFor(async () => (await ingest.getJob(job.id as string))?.failedReason !== undefined);
      expect((await ingest.getJob(job.id as string))?.failedReason).toMatch(/^notification no-call-id: /);
      const crm = new Queue(destinationQueueName('crm'), { connection: redis, prefix: config.redis.prefix });
      expect(await crm.getJob(deliveryJobId(event.id, 'crm'))).toBeDefined();
      await crm.close();
      expect(lines().filter((line) => line.msg === 'event routed')).toEqual([
        expect.objectContaining({ eventId: event.id, destinations: ['crm'] }),
      ]);
    } finally {
      await fanout.close();
      await ingest.close();
      redis.disconnect();
      await deletePrefix(REDIS_URL, config.redis.prefix);
    }
  });
});

describe('fan-out start', () => {
  it('warns of deliveries waiting in the queue of a destination no longer in the config', async () => {
    const config = testConfig('destinations:\n  - {name: crm, type: http, url: "http://127.0.0.1:9/"}\n');
    const redis = new Redis(REDIS_URL);
    const old = new Queue(destinationQueueName('oldcrm'), { connection: redis, prefix: config.redis.prefix });
    await old.add('cdr', { id: 'stranded' }, { jobId: 'stranded.oldcrm' });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger(
      { process: 'test' },
      {
        level: 'info',
        destination: new Writable({
          write(chunk, _encoding, done) {
            for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
            done();
          },
        }),
      },
    );
    const fanout = startFanout(config, logger);
    try {
      await waitFor(() => lines.some((line) => line.destination === 'oldcrm'));
      expect(lines.find((line) => line.destination === 'oldcrm')).toMatchObject({
        level: 40,
        destination: 'oldcrm',
        pending: 1,
        msg: 'deliveries wait for a destination that is no longer in the config; no worker will make them: put it back (npm run ledger lists them)',
      });
      expect(lines.some((line) => line.destination === 'crm')).toBe(false);
    } finally {
      await fanout.close();
      await old.close();
      redis.disconnect();
      await deletePrefix(REDIS_URL, config.redis.prefix);
    }
  });
});
