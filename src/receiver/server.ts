import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { metrics, watchQueues, watchSpoolDepth } from '../ops/metrics.ts';
import { listenError } from '../ops/startup-error.ts';
import { DurableIngest } from '../queue/durable-ingest.ts';
import { type IngestJobData, IngestWriter, ingestQueue } from '../queue/ingest.ts';
import { destinationQueueName, destinationsLeftBehind } from '../queue/names.ts';
import { producerConnection, RedisUnreachableError, watchConnection } from '../queue/redis.ts';
import { Spool } from '../queue/spool.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { mountAdmin } from './admin.ts';
import { createReceiverApp } from './app.ts';

const MAX_HEADER_BYTES = 16 * 1024;

export interface RunningReceiver {
  /** The port it listens on (useful with `port: 0`). */
  port: number;
  queue: Queue<IngestJobData>;
  /** Stops accepting, lets in-flight requests finish, then closes the Redis connections. */
  close(): Promise<void>;
}

export async function startReceiver(config: ForwarderConfig, logger: Logger): Promise<RunningReceiver> {
  const redis: Redis = producerConnection(config.redis.url);
  watchConnection(redis, logger);

  // The notifications' writes go through a connection of their own (see IngestWriter); a lost
  // connection is reported once, by the other one.
  const writes = redis.duplicate();
  writes.on('error', () => {});

  for (const connection of [redis, writes]) {
    if (connection.status === 'ready') continue;
    await once(connection, 'ready', { signal: AbortSignal.timeout(10_000) }).catch(() => {
      redis.disconnect();
      writes.disconnect();
      throw new RedisUnreachableError(config.redis.url, 'no connection within 10 s');
    });
  }

  const queue = ingestQueue(redis, config.redis.prefix, config.retention);
  queue.on('error', () => {});
  const writer = new IngestWriter(queue, writes, { dedupeWindowMs: config.receiver.dedupeWindowSec * 1000 });
  const ingest = new DurableIngest(writer, new Spool(config.receiver.spoolDir), writes, logger, (count) =>
    metrics.duplicates.inc(count),
  );
  watchSpoolDepth(() => ingest.spoolDepth);
  // A spool left by an earlier run (Redis was down when it stopped) goes to the queue first.
  await ingest.drain();

  const app = createReceiverApp({
    config: config.receiver,
    logger,
    ingest: (event) => ingest.write(event),
    spooled: () => ingest.spoolDepth,
    // Both connections: the notifications are written through one, the queues read through the other.
    ready: async () =>
      redis.status === 'ready' && writes.status === 'ready' && (await writes.ping()) === 'PONG',
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
  const admin = mountAdmin(app, {
    config: config.admin,
    queues: allQueues,
    redis,
    prefix: config.redis.prefix,
    logger,
  });
  // The queue a destination renamed or removed left behind: in the dashboard too, to look at and
  // clean. Found by a scan of Redis's keys, off the start-up path.
  const leftBehind: Queue[] = [];
  const leftBehindShown = destinationsLeftBehind(redis, config)
    .then((names) => {
      for (const name of names) {
        const leftQueue = new Queue(destinationQueueName(name), {
          connection: redis,
          prefix: config.redis.prefix,
        });
        leftQueue.on('error', () => {});
        leftBehind.push(leftQueue);
      }
      admin.show(leftBehind);
    })
    .catch(() => {});
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
    s.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        listenError(error, config.receiver.port, config.receiver.host, {
          port: 'set receiver.port (PORT where the config does not set it) to a free port',
          host: 'set receiver.host to one of its addresses, or 0.0.0.0',
        }),
      ),
    );
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
      await leftBehindShown;
      await Promise.all([...destinationQueues, ...leftBehind].map((other) => other.close()));
      await queue.close();
      redis.disconnect();
      writes.disconnect();
    },
  };
}
