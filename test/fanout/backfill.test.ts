import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { type RunningDelivery, startDeliveryWorker } from '../../src/delivery/worker.ts';
import { destinationQueueName, INGEST_QUEUE } from '../../src/queue/names.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { runScript, writeTempConfig } from '../helpers/process.ts';
import { silentLogger } from '../helpers/receiver.ts';
import { REDIS_URL, waitFor } from '../helpers/redis-server.ts';
import { listSamples, loadSample, sampleEvent } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

describe('npm run backfill', () => {
  let crm: Sink;
  let archive: Sink;
  let p: Pipeline;
  let configFile: string;
  let archiveWorker: RunningDelivery | undefined;
  const backfill = (...args: string[]) => runScript('scripts/backfill.ts', configFile, args);
  const samples = listSamples().slice(0, 12);
  /** The CDRs among the samples posted: what the new destination's filter takes. */
  const cdrIds = new Set(
    samples
      .map((name) => sampleEvent(name))
      .filter((event) => event.kind === 'cdr')
      .map((event) => event.id),
  );

  beforeAll(async () => {
    crm = await Sink.start();
    archive = await Sink.start();
    // The CRM has been running for a while: every sample went to it.
    p = await startPipeline(`destinations:\n  - {name: crm, type: http, url: "${crm.url}"}\n`);
    for (const name of samples) await p.post(loadSample(name));
    await waitFor(async () => (await p.queue('crm').getCompletedCount()) === samples.length, 15_000);
    // Then a second destination is added, for CDRs only.
    configFile = writeTempConfig(`redis: {url: "${REDIS_URL}", prefix: ${p.config.redis.prefix}}
destinations:
  - {name: crm, type: http, url: "${crm.url}"}
  - {name: archive, type: http, url: "${archive.url}", filter: {kind: cdr}}
`);
  });
  afterAll(async () => {
    await archiveWorker?.close();
    await p.stop();
    await crm.close();
    await archive.close();
  });

  it('--dry-run counts the kept events the destination wants and adds nothing', async () => {
    // An ingest job no receiver could have written is skipped, not a crash.
    const redis = new Redis(REDIS_URL);
    const ingest = new Queue(INGEST_QUEUE, { connection: redis, prefix: p.config.redis.prefix });
    await ingest.add('notifications', { bogus: true });
    await ingest.close();
    redis.disconnect();
    const result = await backfill('--destination', 'archive', '--dry-run');
    expect(result).toEqual({
      code: 0,
      output: `dry run: ${cdrIds.size} kept events that archive wants, ${cdrIds.size} of them without a delivery to it; nothing added`,
    });
    const future = await backfill(
      '--destination',
      'archive',
      '--since',
      new Date(Date.now() + 60_000).toISOString(),
      '--dry-run',
    );
    expect(future.output).toBe(
      'dry run: 0 kept events that archive wants, 0 of them without a delivery to it; nothing added',
    );
    expect(await p.queue('archive').count()).toBe(0);
  });

  it('gives the destination a delivery of each event it wants, once, with the event id as webhook-id', async () => {
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const result = await backfill('--destination', 'archive', '--since', since);
    expect(result).toEqual({
      code: 0,
      output: `added ${cdrIds.size} deliveries to archive; 0 events it wants already had one`,
    });
    const config = parseConfig(
      `destinations:\n  - {name: archive, type: http, url: "${archive.url}", filter: {kind: cdr}}\n`,
      'test',
      { REDIS_URL },
    );
    config.redis.prefix = p.config.redis.prefix;
    const [archiveConfig] = config.destinations;
    if (!archiveConfig) throw new Error('no archive destination');
    archiveWorker = startDeliveryWorker(config, archiveConfig, silentLogger);
    await waitFor(() => archive.requests.length === cdrIds.size, 10_000);
    expect(new Set(archive.requests.map((request) => request.headers['webhook-id']))).toEqual(cdrIds);
    // Run again: everything is there already.
    const again = await backfill('--destination', 'archive');
    expect(again.output).toBe(
      `added 0 deliveries to archive; ${cdrIds.size} events it wants already had one`,
    );
    // The CRM had all of them: nothing to add, nothing sent twice.
    const crmAgain = await backfill('--destination', 'crm');
    expect(crmAgain.output).toBe(
      `added 0 deliveries to crm; ${samples.length} events it wants already had one`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(archive.requests).toHaveLength(cdrIds.size);
    expect(crm.requests).toHaveLength(samples.length);
  });

  it('reads the queue a renamed or removed destination left behind too', async () => {
    // `crm` was called `oldcrm` once: its queue keeps an event that no other queue holds any more.
    const redis = new Redis(REDIS_URL);
    const old = new Queue(destinationQueueName('oldcrm'), {
      connection: redis,
      prefix: p.config.redis.prefix,
    });
    const name = listSamples().find(
      (sample) => !samples.includes(sample) && sampleEvent(sample).kind === 'cdr',
    );
    const lost = sampleEvent(name ?? '');
    try {
      await old.add('cdr', lost, { jobId: `${lost.id}.oldcrm` });
      const result = await backfill('--destination', 'archive');
      expect(result.output).toBe(
        `added 1 delivery to archive; ${cdrIds.size} events it wants already had one`,
      );
      await waitFor(
        () => archive.requests.some((request) => request.headers['webhook-id'] === lost.id),
        10_000,
      );
      expect(archive.requests).toHaveLength(cdrIds.size + 1);
    } finally {
      await old.obliterate({ force: true });
      await old.close();
      redis.disconnect();
    }
  });

  it('says what is wrong with its flags', async () => {
    expect(await backfill('--destination', 'nope')).toEqual({
      code: 2,
      output: 'backfill: unknown destination "nope"; one of: crm, archive',
    });
    expect((await backfill()).output).toBe('backfill: --destination is required; one of: crm, archive');
    const badDate = await backfill('--destination', 'archive', '--since', 'last week');
    expect(badDate.code).toBe(2);
    expect(badDate.output).toContain('--since');
  });
});
