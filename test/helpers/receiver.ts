import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { type ForwarderConfig, parseConfig } from '../../src/config/index.ts';
import { eventOf, type IngestJobData, notificationsOf } from '../../src/queue/ingest.ts';
import { type RunningReceiver, startReceiver } from '../../src/receiver/server.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { deletePrefix, REDIS_URL } from './redis-server.ts';

export const silentLogger = pino({ level: 'silent' });

export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

/** A config as a user would write it, with a private key prefix and an ephemeral port. */
export function testConfig(yaml = '', redisUrl = REDIS_URL, prefix = uniquePrefix('cfg')): ForwarderConfig {
  const config = parseConfig(yaml, 'test.yaml', {});
  return {
    ...config,
    redis: { ...config.redis, url: redisUrl, prefix },
    receiver: {
      ...config.receiver,
      port: 0,
      host: '127.0.0.1',
      // Each receiver its own spool, unless the test names one.
      spoolDir: yaml.includes('spoolDir')
        ? config.receiver.spoolDir
        : mkdtempSync(join(tmpdir(), 'cdrf-spool-')),
    },
  };
}

export interface TestReceiver extends RunningReceiver {
  url: string;
  config: ForwarderConfig;
  /** Closes the receiver and deletes its keys. */
  dispose(): Promise<void>;
}

export async function startTestReceiver(yaml = '', redisUrl = REDIS_URL): Promise<TestReceiver> {
  const config = testConfig(yaml, redisUrl);
  const receiver = await startReceiver(config, silentLogger);
  return {
    ...receiver,
    config,
    url: `http://127.0.0.1:${receiver.port}`,
    async dispose() {
      await receiver.close();
      await deletePrefix(redisUrl, config.redis.prefix).catch(() => {});
    },
  };
}

/** Every notification the ingest queue holds, in any state, as the call event the fan-out reads. */
export async function queuedEvents(queue: Queue<IngestJobData>): Promise<CallEvent[]> {
  const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
  return jobs.flatMap((job) => notificationsOf(job.data).map(eventOf));
}
