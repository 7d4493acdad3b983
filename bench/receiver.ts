/**
 * `npm run bench:receiver`: the real receiver (durable: 200 only after the Redis write) against a
 * bare Hono handler doing the same parsing and validation with no Redis write, in the same run,
 * under the same load: autocannon, 50 connections, a mix of every TeleCMI sample, each request a
 * new call (autocannon's idReplacement gives each a fresh cmiuuid) so that nothing is answered as a duplicate.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type IngestJobData, notificationsOf } from '../src/queue/ingest.ts';
import { deleteKeysWithPrefix } from '../src/queue/redis.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 15);
const WARMUP_S = 3;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const samplesDir = new URL('../../shared/telecmi/samples/', import.meta.url);

const samples = readdirSync(samplesDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => JSON.parse(readFileSync(new URL(file, samplesDir), 'utf8')) as Record<string, unknown>);

// autocannon puts a unique id in place of [<id>] in every request it sends.
const requests = samples.map((sample) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ ...sample, cmiuuid: `bench-[<id>]` }),
}));

async function startServer(mode: 'durable' | 'bare', prefix: string, spoolDir: string) {
  const child = fork(
    fileURLToPath(new URL('./receiver-server.ts', import.meta.url)),
    [mode, prefix, spoolDir],
    {
      // BENCH_CPU_PROF=dir writes a CPU profile of each receiver process there.
      execArgv: [
        // The flags `npm run receiver` runs the receiver with (package.json), for both handlers.
        '--max-semi-space-size=64',
        '--import',
        'tsx',
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      ],
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { port, stop: () => child.kill(process.env.BENCH_CPU_PROF ? 'SIGINT' : 'SIGKILL') };
}

function load(port: number, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}/webhook/cdr`,
    connections: CONNECTIONS,
    duration: seconds,
    idReplacement: true,
    requests,
  });
}

async function measure(mode: 'durable' | 'bare') {
  const prefix = `bench-${mode}-${process.pid}`;
  const spoolDir = mkdtempSync(join(os.tmpdir(), 'cdrf-bench-spool-'));
  const server = await startServer(mode, prefix, spoolDir);
  try {
    const warmup = await load(server.port, WARMUP_S);
    const result = await load(server.port, DURATION_S);
    const failures = result.non2xx + result.errors + result.timeouts + warmup.non2xx + warmup.errors;
    if (failures > 0) throw new Error(`${mode}: ${failures} requests failed (non-2xx, errors or timeouts)`);
    const acknowledged = warmup['2xx'] + result['2xx'];
    // Proof that "durable" is durable: every 200 is a job in Redis.
    const queued = mode === 'durable' ? await queuedNotifications(prefix) : 0;
    // Requests still in flight when autocannon stops are stored but not counted as answered, so
    // there may be a few more notifications than 200s, never fewer.
    if (mode === 'durable' && queued < acknowledged) {
      throw new Error(
        `durable: ${acknowledged} requests answered 200 but ${queued} notifications are in Redis`,
      );
    }
    return {
      mode,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      acknowledged,
      queued,
    };
  } finally {
    server.stop();
    rmSync(spoolDir, { recursive: true, force: true });
    await deleteKeysWithPrefix(REDIS_URL, prefix);
  }
}

/** Notifications stored in the ingest queue (a job holds those that arrived together). */
async function queuedNotifications(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  const queue = new Queue<IngestJobData>('ingest', { connection: redis, prefix });
  let stored = 0;
  for (let start = 0; ; start += 1000) {
    const jobs = await queue.getJobs(['waiting'], start, start + 999);
    for (const job of jobs) stored += notificationsOf(job.data).length;
    if (jobs.length < 1000) break;
  }
  await queue.close();
  redis.disconnect();
  return stored;
}

const bare = await measure('bare');
const durable = await measure('durable');

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `\nreceiver benchmark: ${CONNECTIONS} connections, ${DURATION_S} s each after ${WARMUP_S} s warm-up`,
);
console.log(
  `machine: ${os.cpus().length} cores (${cpu}), Node ${process.version}, load generator on the same machine\n`,
);
console.log('handler                     req/s    p50 ms   p99 ms');
for (const r of [bare, durable]) {
  const name = r.mode === 'bare' ? 'bare (parse + validate)' : 'durable (+ BullMQ write)';
  console.log(
    `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(6)}   ${String(r.p50).padStart(6)}   ${String(r.p99).padStart(6)}`,
  );
}
console.log(
  `\ndurable: ${durable.acknowledged} notifications answered 200, ${durable.queued} notifications found in Redis (the difference: requests in flight when the load stopped)`,
);
console.log(
  `durable / bare throughput: ${(durable.rps / bare.rps).toFixed(3)} (goal >= 0.75; absolute goal >= 4100 req/s)`,
);
console.log(`durable / bare p99:        ${(durable.p99 / Math.max(bare.p99, 1)).toFixed(3)} (goal <= 2)`);
