import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { ForwarderConfig } from '../../src/config/index.ts';
import type { Logger } from '../../src/ops/logger.ts';
import type { Service } from '../../src/ops/main.ts';
import { selectRoles, startWorkers } from '../../src/ops/run-workers.ts';
import { destinationQueueName } from '../../src/queue/names.ts';
import { startReceiver } from '../../src/receiver/server.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { silentLogger, testConfig } from './receiver.ts';
import { deletePrefix, REDIS_URL } from './redis-server.ts';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Receiver, fan-out and every destination of a config, in this process, with a private prefix. */
export interface Pipeline {
  url: string;
  config: ForwarderConfig;
  post(
    fields: Record<string, unknown>,
  ): Promise<{ status: number; body: { id: string; duplicate: boolean } }>;
  queue(destination: string): Queue<CallEvent>;
  stop(): Promise<void>;
}

export async function startPipeline(
  yaml: string,
  options: { roles?: string; logger?: Logger } = {},
): Promise<Pipeline> {
  const config = testConfig(yaml);
  const logger = options.logger ?? silentLogger;
  const receiver = await startReceiver(config, logger);
  const workers: Service = startWorkers(config, logger, selectRoles(options.roles, config));
  const connection = new Redis(REDIS_URL);
  const queues = new Map<string, Queue<CallEvent>>();
  const url = `http://127.0.0.1:${receiver.port}`;
  return {
    url,
    config,
    async post(fields) {
      const response = await fetch(`${url}/webhook/cdr`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fields),
      });
      return { status: response.status, body: (await response.json()) as { id: string; duplicate: boolean } };
    },
    queue(destination) {
      let queue = queues.get(destination);
      if (!queue) {
        queue = new Queue<CallEvent>(destinationQueueName(destination), {
          connection,
          prefix: config.redis.prefix,
        });
        queues.set(destination, queue);
      }
      return queue;
    },
    async stop() {
      await receiver.close();
      await workers.close();
      for (const queue of queues.values()) await queue.close();
      connection.disconnect();
      await deletePrefix(REDIS_URL, config.redis.prefix);
    },
  };
}

export async function withPg<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
