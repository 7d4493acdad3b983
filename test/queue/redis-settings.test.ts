import { afterEach, describe, expect, it } from 'vitest';
import { redisDurabilityWarnings } from '../../src/queue/redis.ts';
import { OwnRedis } from '../helpers/redis-server.ts';

describe('Redis settings that could lose queued notifications', () => {
  let redis: OwnRedis | undefined;
  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  it('none for a Redis run as docker-compose.yml runs it: AOF on, noeviction', async () => {
    redis = await OwnRedis.start([
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
    ]);
    expect(await redisDurabilityWarnings(redis.url)).toEqual([]);
  });

  it('names an eviction policy that may drop jobs, and no persistence at all', async () => {
    redis = await OwnRedis.start(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
    expect(await redisDurabilityWarnings(redis.url)).toEqual([
      {
        setting: 'maxmemory-policy',
        value: 'allkeys-lru',
        message:
          'Redis may evict queued jobs when its memory is full (maxmemory-policy allkeys-lru); set maxmemory-policy noeviction',
      },
      {
        setting: 'appendonly',
        value: 'no',
        message:
          'Redis keeps nothing on disk (appendonly no, no save points): a Redis restart loses every queued notification and delivery; set appendonly yes',
      },
    ]);
  });

  it('snapshots alone lose what came since the last one', async () => {
    redis = await OwnRedis.start(['--save', '60 1', '--appendonly', 'no']);
    expect(await redisDurabilityWarnings(redis.url)).toEqual([
      {
        setting: 'appendonly',
        value: 'no',
        message:
          'Redis persists by snapshots only (save 60 1): a Redis crash loses what was queued since the last one; set appendonly yes',
      },
    ]);
  });
});
