import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { watchQueues, watchSpoolDepth } from '../ops/metrics.ts';
import { DurableIngest } from '../queue/durable-ingest.ts';
import { type IngestJobData, IngestWriter, ingestQueue } from '../queue/ingest.ts';
import { destinationQueueName } from '../queue/names.ts';
import { producerConnection, RedisUnreachableError } from '../queue/redis.ts';
import { Spool } from '../queue/spool.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { mountAdmin } from './admin.ts';
import { createReceiverApp } from './app.ts';

const MAX_HEADER_BYTES = 16 * 1024;

export interface RunningReceiver {
  /** The port it listens on (useful with `port: 0`). */
  port: number;
  queue: Queue<IngestJobData>;
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
  const writer = new IngestWriter(queue, redis, { dedupeWindowMs: config.receiver.dedupeWindowSec * 1000 });
  const ingest = new DurableIngest(writer, new Spool(config.receiver.spoolDir), redis, logger);
  watchSpoolDepth(() => ingest.spoolDepth);
  // A spool left by an earlier run (Redis was down when it stopped) goes to the queue first.
  await ingest.drain();

  const app = createReceiverApp({
    config: config.receiver,
    logger,
    ingest: (event) => ingest.write(event),
    spooled: () => ingest.spoolDepth,
    ready: async () => redis.status === 'ready' && (await redis.ping()) === 'PONG',
  });

  // The queue dashboard and the `cdrf_queue_*` gauges cover the ingest queue and every destination's.
  const destinationQueues = config.destinations.map(
    (destination) =>
      new Queue<CallEvent>(destinationQueueName(destination.name), {
        connection: redis,
        prefix: config.redis.prefix,
      }),
  );
  for (const destinationQueue of destinationQueues) destinationQueue.on('error', () => {});
  const allQueues = [queue, ...destinationQueues];
  mountAdmin(app, { config: config.admin, queues: allQueues, logger });
  const unwatchQueues = watchQueues(allQueues);

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: config.receiver.port,
        hostname: config.receiver.host,
        // Request line and headers, query string included: larger requests get 431 from Node.
        serverOptions: { maxHeaderSize: MAX_HEADER_BYTES },
      },
      () => resolve(s),
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
      await ingest.close();
      unwatchQueues();
      await Promise.all(destinationQueues.map((destinationQueue) => destinationQueue.close()));
      await queue.close();
      redis.disconnect();
    },
  };
}
