/**
 * `npm run bench:delivery`: N events through the whole pipeline (receiver, fan-out, three `http`
 * destinations on local sink servers and one `postgres` destination), then, in the same run, the
 * warehouse's batched writes against one INSERT per row.
 *
 * The forwarder runs, one after the other in the same run, as `npm start` does (receiver and
 * workers in one process) and as docker-compose.yml does (a receiver process and BENCH_WORKERS
 * worker processes), LOG_LEVEL=info; BENCH_TOPOLOGY=one or =split runs only that one. The load
 * generator and the sinks share this process.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import pino from 'pino';
import * as v from 'valibot';
import { DestinationConfig, type DestinationConfigOf } from '../src/config/index.ts';
import {
  COLUMNS,
  eventToRow,
  postgresDestination,
  quoteIdentifier,
  quoteTable,
} from '../src/destinations/postgres/index.ts';
import { deleteKeysWithPrefix } from '../src/queue/redis.ts';
import { type CallEvent, normalise } from '../src/telecmi/index.ts';
import { bullmqFloor } from './bullmq-floor.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? 'both';
if (!['both', 'one', 'split'].includes(TOPOLOGY))
  throw new Error(`BENCH_TOPOLOGY must be one, split or both (the default), not "${TOPOLOGY}"`);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const ROWS = Number(process.env.BENCH_ROWS ?? 20_000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const samplesDir = new URL('../../shared/telecmi/samples/', import.meta.url);
const samples = readdirSync(samplesDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => JSON.parse(readFileSync(new URL(file, samplesDir), 'utf8')) as Record<string, unknown>);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** A sink: answers 200 at once and notes, per request, the time from receipt to delivery. */
async function startSink(latencies: number[]): Promise<{ server: Server; url: string; count: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      count += 1;
      const receivedAt = /"receivedAt":"([^"]+)"/.exec(body)?.[1];
      if (receivedAt) latencies.push(Date.now() - Date.parse(receivedAt));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, count: () => count };
}

/** A port nothing listens on now: the forwarder process is told to listen there. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Set when a forwarder process ends before the benchmark does: the wait stops with it. */
let forwarderExit: string | undefined;

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (forwarderExit) throw new Error(forwarderExit);
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for deliveries');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `split`: a receiver process and WORKERS worker processes; else one process, as `npm start`. */
async function endToEnd(split: boolean) {
  const latencies: number[] = [];
  const sinks = await Promise.all([startSink(latencies), startSink(latencies), startSink(latencies)]);
  const tag = randomBytes(3).toString('hex');
  const prefix = `bench-delivery-${tag}`;
  const table = `bench_events_${tag}`;
  const port = await freePort();
  // The config and the receiver's spool, removed at the end.
  const workDir = mkdtempSync(join(os.tmpdir(), 'cdrf-bench-'));
  const configFile = join(workDir, 'forwarder.yaml');
  writeFileSync(
    configFile,
    `redis: {url: "${REDIS_URL}", prefix: ${prefix}}
receiver: {port: ${port}, host: 127.0.0.1, spoolDir: ${join(workDir, 'spool')}}
destinations:
${sinks.map((sink, i) => `  - {name: crm${i + 1}, type: http, url: "${sink.url}", concurrency: 100}`).join('\n')}
  - {name: warehouse, type: postgres, url: "${PG_URL}", table: ${table}}
`,
  );
  // Split as docker-compose does (BENCH_WORKERS as `--scale worker=N`).
  const entries = split ? ['receiver.ts', ...Array.from({ length: WORKERS }, () => 'worker.ts')] : ['all.ts'];
  const forwarders = entries.map((entry) =>
    fork(fileURLToPath(new URL(`../workers/${entry}`, import.meta.url)), [], {
      // BENCH_CPU_PROF=dir writes a CPU profile of each forwarder process there.
      execArgv: [
        // The flags `npm start` runs the forwarder with (package.json).
        '--max-semi-space-size=64',
        '--import',
        'tsx',
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      ],
      env: {
        ...process.env,
        FORWARDER_CONFIG: configFile,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
        METRICS_PORT: '0',
      },
      // BENCH_LOG=file keeps the forwarders' log lines there.
      stdio: [
        'ignore',
        process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'a') : 'ignore',
        'inherit',
        'ipc',
      ],
    }),
  );
  let finished = false;
  for (const [index, forwarder] of forwarders.entries()) {
    forwarder.once('exit', (code, signal) => {
      if (!finished)
        forwarderExit = `forwarder ${entries[index]} exited (${signal ?? `code ${code}`}) during the benchmark; BENCH_LOG=<file> keeps its log`;
    });
  }
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  try {
    await until(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
      30_000,
    );
    const started = Date.now();
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/webhook/cdr`,
      connections: 50,
      amount: EVENTS,
      idReplacement: true,
      requests: samples.map((sample) => ({
        method: 'POST' as const,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...sample, cmiuuid: `bench-[<id>]` }),
      })),
    });
    const sent = Date.now();
    if (result['2xx'] !== EVENTS)
      throw new Error(`only ${result['2xx']} of ${EVENTS} events were acknowledged`);
    const expected = EVENTS * sinks.length;
    await until(() => sinks.reduce((sum, sink) => sum + sink.count(), 0) >= expected, 600_000);
    const delivered = Date.now();
    await until(
      async () =>
        (await db.query(`SELECT count(*)::int AS n FROM ${table}`).catch(() => ({ rows: [{ n: 0 }] })))
          .rows[0].n >= EVENTS,
      600_000,
    );
    const warehoused = Date.now();
    latencies.sort((a, b) => a - b);
    return {
      eventsIn: EVENTS / ((sent - started) / 1000),
      httpOut: expected / ((delivered - started) / 1000),
      rowsOut: EVENTS / ((warehoused - started) / 1000),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      seconds: (warehoused - started) / 1000,
    };
  } finally {
    finished = true;
    for (const forwarder of forwarders) {
      forwarder.kill(process.env.BENCH_CPU_PROF ? 'SIGINT' : 'SIGKILL');
      await new Promise((resolve) => forwarder.once('exit', resolve));
    }
    for (const sink of sinks) sink.server.close();
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
    await deleteKeysWithPrefix(REDIS_URL, prefix);
    rmSync(workDir, { recursive: true, force: true });
  }
}

function benchEvents(count: number): CallEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const result = normalise({ ...samples[i % samples.length], cmiuuid: `rows-${i}` }, new Date());
    if (!result.ok) throw new Error(result.error);
    return result.event;
  });
}

/** Writes `events` with `inFlight` writes at a time (a new one as one ends); returns events per second. */
async function rowsPerSecond(
  inFlight: number,
  events: CallEvent[],
  write: (event: CallEvent) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < events.length) await write(events[next++] as CallEvent);
    }),
  );
  return events.length / ((performance.now() - started) / 1000);
}

async function warehouseWrites() {
  const logger = pino({ level: 'silent' });
  const tag = randomBytes(3).toString('hex');
  const batchedTable = `bench_batched_${tag}`;
  const singleTable = `bench_single_${tag}`;
  const config = (table: string) =>
    v.parse(DestinationConfig, {
      name: 'warehouse',
      type: 'postgres',
      url: PG_URL,
      table,
    }) as DestinationConfigOf<'postgres'>;

  // Batched: the destination as the worker uses it, with as many deliveries in flight as its
  // default concurrency (a new one starts as one ends, as the worker takes a job per free slot).
  const batched = postgresDestination.create(config(batchedTable), logger);
  await batched.deliver(benchEvents(1)[0] as CallEvent, { attempt: 1, logger }); // creates the table
  const events = benchEvents(ROWS);
  const inFlight = postgresDestination.defaultConcurrency(config(batchedTable));
  const batchedRate = await rowsPerSecond(inFlight, events, (event) =>
    batched.deliver(event, { attempt: 1, logger }),
  );
  await batched.close();

  // One INSERT per row, same columns, same ON CONFLICT: on one connection (row at a time, as a
  // handler that writes each record as it comes does), and on four connections in parallel.
  const single = postgresDestination.create(config(singleTable), logger);
  await single.deliver(benchEvents(1)[0] as CallEvent, { attempt: 1, logger });
  await single.close();
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const names = COLUMNS.map(({ name }) => quoteIdentifier(name)).join(', ');
  const params = COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
  const sql = `INSERT INTO ${quoteTable(singleTable)} (${names}) VALUES (${params}) ON CONFLICT (id) DO NOTHING`;
  const rowAtATime = (connections: number, rows: CallEvent[]) =>
    rowsPerSecond(connections, rows, (event) => pool.query(sql, eventToRow(event)));
  const singleRate = await rowAtATime(1, events.slice(0, ROWS / 2));
  const parallelRate = await rowAtATime(4, events.slice(ROWS / 2));
  await pool.query(`DROP TABLE IF EXISTS ${batchedTable}, ${singleTable}`);
  await pool.end();
  return { batchedRate, inFlight, singleRate, parallelRate };
}

const topologies = {
  one: 'one process (npm start)',
  split: `a receiver process and ${WORKERS} worker process${WORKERS > 1 ? 'es' : ''} (docker compose${WORKERS > 1 ? ` --scale worker=${WORKERS}` : ''})`,
};
const runs: [string, Awaited<ReturnType<typeof endToEnd>>][] = [];
for (const split of [false, true]) {
  if (TOPOLOGY === (split ? 'one' : 'split')) continue;
  runs.push([split ? topologies.split : topologies.one, await endToEnd(split)]);
}
const floor = await bullmqFloor(REDIS_URL, benchEvents(EVENTS));
const rows = await warehouseWrites();
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\ndelivery benchmark: ${EVENTS} events, 3 http destinations + 1 postgres`);
console.log(
  `machine: ${os.cpus().length} cores (${cpu}), Node ${process.version}, everything on the same machine`,
);
for (const [topology, e2e] of runs) {
  console.log(`\n${topology}:`);
  console.log(`  events in (acknowledged):        ${e2e.eventsIn.toFixed(0)} /s`);
  console.log(`  http deliveries out (3 sinks):   ${e2e.httpOut.toFixed(0)} /s   (goal >= 5000)`);
  console.log(`  warehouse rows out (pipeline):   ${e2e.rowsOut.toFixed(0)} /s`);
  console.log(`  receipt -> http delivery:        p50 ${e2e.p50} ms, p99 ${e2e.p99} ms`);
  console.log(`  all delivered in:                ${e2e.seconds.toFixed(1)} s`);
}
console.log(
  `\nbaseline, BullMQ alone (the same ${EVENTS} x 4 jobs, no-op processors, one process): ${floor.httpJobsPerSec.toFixed(0)} http jobs/s`,
);
for (const [topology, e2e] of runs)
  console.log(`pipeline / BullMQ alone, ${topology}: ${(e2e.httpOut / floor.httpJobsPerSec).toFixed(3)}`);
console.log('');
console.log(
  `postgres, batched (batches of 500, ${rows.inFlight} deliveries in flight, ${ROWS} rows):  ${rows.batchedRate.toFixed(0)} rows/s (goal >= 20000)`,
);
console.log(`postgres, one INSERT per row, 1 connection:  ${rows.singleRate.toFixed(0)} rows/s`);
console.log(`postgres, one INSERT per row, 4 connections: ${rows.parallelRate.toFixed(0)} rows/s`);
console.log(
  `batched / row-at-a-time: ${(rows.batchedRate / rows.singleRate).toFixed(1)}x (goal >= 10x); ` +
    `against 4 connections: ${(rows.batchedRate / rows.parallelRate).toFixed(1)}x`,
);
