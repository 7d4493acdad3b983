import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { IngestWriter, ingestQueue } from '../queue/ingest.ts';
import { producerConnection, RedisUnreachableError } from '../queue/redis.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { createReceiverApp } from './app.ts';

export interface RunningReceiver {
  /** The port it listens on (useful with `port: 0`). */
  port: number;
  queue: Queue<CallEvent>;
  /** Stops accepting, lets in-flight requests finish, then closes the Redis connection. */
  close(): Promise<void>;
}

export async function startReceiver(config: ForwarderConfig, logger: Logger): Promise<RunningReceiver> {
  const redis: Redis = producerConnection(config.redis.url);
  // ioredis reports each failed reconnect; one warning per state change is enough.
  let redisUp = true;
  redis.on('error', (error) => {
    if (redisUp) logger.warn({ err: error.message }, 'Redis connection lost; retrying');
    redisUp = false;
  });
  redis.on('ready', () => {
    if (!redisUp) logger.info('Redis connection restored');
    redisUp = true;
  });

  if (redis.status !== 'ready') {
    await once(redis, 'ready', { signal: AbortSignal.timeout(10_000) }).catch(() => {
      redis.disconnect();
      throw new RedisUnreachableError(config.redis.url, 'no connection within 10 s');
    });
  }

  const queue = ingestQueue(redis, config.redis.prefix);
  queue.on('error', () => {});
  const writer = new IngestWriter(queue, { dedupeWindowMs: config.receiver.dedupeWindowSec * 1000 });

  const app = createReceiverApp({
    config: config.receiver,
    logger,
    ingest: (event) => writer.write(event),
    ready: async () => redis.status === 'ready' && (await redis.ping()) === 'PONG',
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.receiver.port, hostname: config.receiver.host }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, host: config.receiver.host, path: config.receiver.path }, 'receiver listening');

  return {
    port,
    queue,
    async close() {
      // close() stops accepting and resolves once in-flight requests are answered; idle keep-alive
      // connections are closed at once so that they do not hold the shutdown.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      await queue.close();
      redis.disconnect();
    },
  };
}
