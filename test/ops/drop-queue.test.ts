import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationQueueName } from '../../src/queue/names.ts';
import { runScript, writeTempConfig } from '../helpers/process.ts';
import { uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL } from '../helpers/redis-server.ts';

describe('npm run drop-queue', () => {
  const prefix = uniquePrefix('drop');
  let redis: Redis;
  let configFile: string;
  const drop = (...args: string[]) => runScript('scripts/drop-queue.ts', configFile, args);

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    configFile = writeTempConfig(`redis: {url: "${REDIS_URL}", prefix: ${prefix}}
destinations:
  - {name: crm, type: http, url: "http://127.0.0.1:9/"}
`);
    // `oldcrm` was removed from the config; its queue still holds two deliveries. `crm` holds one.
    for (const [name, ids] of [
      ['oldcrm', ['a.oldcrm', 'b.oldcrm']],
      ['crm', ['a.crm']],
    ] as const) {
      const queue = new Queue(destinationQueueName(name), { connection: redis, prefix });
      for (const jobId of ids) await queue.add('cdr', { id: jobId }, { jobId });
      await queue.close();
    }
  });
  afterAll(async () => {
    await deletePrefix(REDIS_URL, prefix);
    redis.disconnect();
  });

  const keysOf = async (name: string) =>
    (await redis.keys(`${prefix}:${destinationQueueName(name)}:*`)).length;

  it('--dry-run says what it would remove and removes nothing', async () => {
    expect(await drop('--destination', 'oldcrm', '--dry-run')).toEqual({
      code: 0,
      output: 'dry run: the queue of oldcrm holds 2 pending, 0 dead, 0 delivered deliveries; nothing removed',
    });
    expect(await keysOf('oldcrm')).toBeGreaterThan(0);
  });

  it('removes the queue of a destination no longer in the config, and only that one', async () => {
    expect(await drop('--destination', 'oldcrm')).toEqual({
      code: 0,
      output: 'removed the queue of oldcrm: 2 pending, 0 dead, 0 delivered deliveries',
    });
    expect(await keysOf('oldcrm')).toBe(0);
    expect(await keysOf('crm')).toBeGreaterThan(0);
  });

  it('refuses a destination that is in the config, and one without a queue', async () => {
    expect(await drop('--destination', 'crm')).toEqual({
      code: 2,
      output:
        'drop-queue: crm is in the config: its queue is in use; remove it from the config and stop its workers first',
    });
    expect(await drop('--destination', 'nothing')).toEqual({
      code: 2,
      output: `drop-queue: no queue of a destination "nothing" in Redis (prefix ${prefix})`,
    });
    expect(await keysOf('crm')).toBeGreaterThan(0);
  });
});
