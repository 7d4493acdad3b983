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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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

type Mode = 'durable' | 'bare';

async function startServer(mode: Mode, prefix: string, spoolDir: string) {
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
  /** The process's CPU time so far (user + system), in microseconds. */
  const cpuMicros = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message) => resolve((message as { cpuMicros: number }).cpuMicros));
      child.send('cpu');
    });
  return { port, cpuMicros, stop: () => child.kill(process.env.BENCH_CPU_PROF ? 'SIGINT' : 'SIGKILL') };
}

/** Redis's CPU time so far (user + system, all its threads), in microseconds. */
async function redisCpuMicros(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (seconds('used_cpu_sys') + seconds('used_cpu_user')) * 1e6;
}

/** CPU time spent during a handler's kept rounds, in microseconds. */
interface CpuSpent {
  /** The receiver process. */
  receiver: number;
  /** Redis (whatever else uses it meanwhile too). */
  redis: number;
  /** This process: autocannon, the load generator. */
  loadGenerator: number;
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

/** A started handler: its port, and what its rounds measured. */
interface Handler {
  mode: Mode;
  prefix: string;
  spoolDir: string;
  port: number;
  stop: () => void;
  cpuMicros: () => Promise<number>;
  rounds: autocannon.Result[];
  cpu: CpuSpent;
  acknowledged: number;
}

async function start(mode: Mode): Promise<Handler> {
  const prefix = `bench-${mode}-${process.pid}`;
  const spoolDir = mkdtempSync(join(os.tmpdir(), 'cdrf-bench-spool-'));
  const { port, stop, cpuMicros } = await startServer(mode, prefix, spoolDir);
  const cpu = { receiver: 0, redis: 0, loadGenerator: 0 };
  return { mode, prefix, spoolDir, port, stop, cpuMicros, rounds: [], cpu, acknowledged: 0 };
}

/** One load round against `handler`; any failed request stops the benchmark. */
async function round(handler: Handler, seconds: number, keep: boolean): Promise<void> {
  const before = { receiver: await handler.cpuMicros(), redis: await redisCpuMicros(infoRedis) };
  const ownBefore = process.cpuUsage();
  const result = await load(handler.port, seconds);
  const own = process.cpuUsage(ownBefore);
  if (keep) {
    handler.cpu.receiver += (await handler.cpuMicros()) - before.receiver;
    handler.cpu.redis += (await redisCpuMicros(infoRedis)) - before.redis;
    handler.cpu.loadGenerator += own.user + own.system;
  }
  const failures = result.non2xx + result.errors + result.timeouts;
  if (failures > 0)
    throw new Error(`${handler.mode}: ${failures} requests failed (non-2xx, errors or timeouts)`);
  handler.acknowledged += result['2xx'];
  if (keep) handler.rounds.push(result);
}

async function stop(handler: Handler): Promise<void> {
  handler.stop();
  rmSync(handler.spoolDir, { recursive: true, force: true });
  await deleteKeysWithPrefix(REDIS_URL, handler.prefix);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Requests per second over all of a handler's rounds, and the median of its rounds' p50 and p99. */
function summary(handler: Handler) {
  const requests = handler.rounds.reduce((sum, result) => sum + result.requests.total, 0);
  const seconds = handler.rounds.reduce((sum, result) => sum + result.duration, 0);
  return {
    rps: requests / seconds,
    p50: median(handler.rounds.map((result) => result.latency.p50)),
    p99: median(handler.rounds.map((result) => result.latency.p99)),
  };
}

/** Notifications stored in the ingest queue, and the jobs (writes) that hold them. */
async function queuedNotifications(prefix: string): Promise<{ stored: number; jobs: number }> {
  const redis = new Redis(REDIS_URL);
  const queue = new Queue<IngestJobData>('ingest', { connection: redis, prefix });
  let stored = 0;
  let jobCount = 0;
  for (let start = 0; ; start += 1000) {
    const jobs = await queue.getJobs(['waiting'], start, start + 999);
    for (const job of jobs) stored += notificationsOf(job.data).length;
    jobCount += jobs.length;
    if (jobs.length < 1000) break;
  }
  await queue.close();
  redis.disconnect();
  return { stored, jobs: jobCount };
}

// Both handlers run side by side and take turns (bare, durable, bare, ...), so that a change in the
// machine's speed during the run (a shared VM's neighbours) weighs on both alike.
const infoRedis = new Redis(REDIS_URL);
const bare = await start('bare');
const durable = await start('durable');
try {
  for (const handler of [bare, durable]) await round(handler, WARMUP_S, false);
  for (let index = 0; index < ROUNDS; index++) {
    for (const handler of [bare, durable]) await round(handler, DURATION_S / ROUNDS, true);
  }
  // Proof that "durable" is durable: every 200 is a notification in Redis. Requests still in
  // flight when a round stops are stored but not counted as answered, so there may be a few more
  // notifications than 200s, never fewer.
  const queued = await queuedNotifications(durable.prefix);
  if (queued.stored < durable.acknowledged) {
    throw new Error(
      `durable: ${durable.acknowledged} requests answered 200 but ${queued.stored} notifications are in Redis`,
    );
  }
  report(queued);
} finally {
  await Promise.all([stop(bare), stop(durable)]);
  infoRedis.disconnect();
}

function report(queued: { stored: number; jobs: number }) {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nreceiver benchmark: ${CONNECTIONS} connections; each handler ${WARMUP_S} s warm-up, then ${ROUNDS} rounds of ${DURATION_S / ROUNDS} s, the two handlers taking turns`,
  );
  console.log(
    `machine: ${os.cpus().length} cores (${cpu}), Node ${process.version}, load generator on the same machine\n`,
  );
  const b = summary(bare);
  const d = summary(durable);
  console.log(
    'handler                     req/s    p50 ms   p99 ms   (req/s over all rounds; p50, p99: median round)',
  );
  for (const [name, r] of [
    ['bare (parse + validate)', b],
    ['durable (+ BullMQ write)', d],
  ] as const) {
    console.log(
      `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(6)}   ${String(r.p50).padStart(6)}   ${String(r.p99).padStart(6)}`,
    );
  }
  const rate = (result: autocannon.Result) => result.requests.total / result.duration;
  const perRound = durable.rounds.map((result, index) =>
    (rate(result) / rate(bare.rounds[index] as autocannon.Result)).toFixed(3),
  );
  console.log(
    `\ndurable: ${durable.acknowledged} notifications answered 200, ${queued.stored} notifications found in Redis (the difference: requests in flight when a round stopped), in ${queued.jobs} writes (${(queued.stored / queued.jobs).toFixed(1)} notifications per write)`,
  );
  console.log(
    `durable / bare throughput: ${(d.rps / b.rps).toFixed(3)} (goal >= 0.75; absolute goal >= 4100 req/s); round by round: ${perRound.join(', ')}`,
  );
  console.log(`durable / bare p99:        ${(d.p99 / Math.max(b.p99, 1)).toFixed(3)} (goal <= 2)`);
  // Where the durable handler's extra time goes: CPU per request answered, in each process.
  const perRequest = (handler: Handler, spent: number) =>
    spent / handler.rounds.reduce((sum, result) => sum + result.requests.total, 0);
  const line = (name: string, key: keyof CpuSpent) => {
    const [inBare, inDurable] = [perRequest(bare, bare.cpu[key]), perRequest(durable, durable.cpu[key])];
    return `${name.padEnd(16)} bare ${inBare.toFixed(1).padStart(6)}   durable ${inDurable.toFixed(1).padStart(6)}   (${inDurable >= inBare ? '+' : ''}${(inDurable - inBare).toFixed(1)})`;
  };
  console.log('\nCPU per request, µs (user + system, over the kept rounds):');
  console.log(line('receiver', 'receiver'));
  console.log(line('Redis', 'redis'));
  console.log(line('load generator', 'loadGenerator'));
}
