/**
 * One receiver for the benchmark, in its own process so that it does not share a core with the
 * load generator: `durable` is the real receiver (Redis write before the answer), `bare` the same
 * Hono app, parsing and validation with no Redis write.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { parseConfig } from '../src/config/index.ts';
import { createLogger } from '../src/ops/logger.ts';
import { createReceiverApp } from '../src/receiver/app.ts';
import { startReceiver } from '../src/receiver/server.ts';

const mode = process.argv[2];
const prefix = process.argv[3] ?? 'bench';
/** The spool folder, made and removed by the benchmark. */
const spoolDir = process.argv[4] as string;
const config = parseConfig('', 'bench', process.env);
config.redis.prefix = prefix;
config.receiver.port = 0;
config.receiver.host = '127.0.0.1';
config.receiver.spoolDir = spoolDir;
const logger = createLogger({ process: `bench-${mode}` });

if (mode === 'durable') {
  const receiver = await startReceiver(config, logger);
  process.send?.({ port: receiver.port });
} else {
  const app = createReceiverApp({
    config: config.receiver,
    logger,
    ingest: async (event) => ({ jobId: event.id, duplicate: false, spooled: false }),
    ready: async () => true,
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
}
// The benchmark asks for this process's CPU time around each round (microseconds, user + system).
process.on('message', (message) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpuMicros: user + system });
  }
});
// SIGINT ends the process normally, which lets --cpu-prof (BENCH_CPU_PROF) write its profile.
process.once('SIGINT', () => process.exit(0));
