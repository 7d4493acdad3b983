import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { queueHoldMs } from '../queue/hold.ts';
import { INGEST_QUEUE } from '../queue/names.ts';
import { EventKind } from '../telecmi/index.ts';
import type { Logger } from './logger.ts';
import { listenError } from './startup-error.ts';

/**
 * Every Prometheus metric of the process, defined here and nowhere else, in one registry per
 * process. The receiver serves it at `/metrics`; a worker process on `workers.metricsPort`. Each
 * part's metrics join the registry when that part starts (the receiver's with the receiver, the
 * deliveries' with the first delivery worker), so a process shows the series of what it runs;
 * `npm start` runs everything, and its receiver's `/metrics` shows everything.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** How a notification was answered (the label `outcome` of `cdrf_notifications_total`). */
const NOTIFICATION_OUTCOMES = [
  'queued',
  'duplicate',
  'spooled',
  'invalid',
  'unauthorized',
  'forbidden',
  'too_large',
  'unavailable',
  'error',
] as const;
export type NotificationOutcome = (typeof NOTIFICATION_OUTCOMES)[number];
/** The outcomes of a notification that was read, whose kind is known; the others are `unknown`'s. */
const READ_OUTCOMES: readonly NotificationOutcome[] = ['queued', 'duplicate', 'spooled', 'unavailable'];

/** Why a notification was refused before it was read (`cdrf_auth_refusals_total{reason}`). */
const AUTH_REFUSAL_REASONS = ['missing_token', 'wrong_token', 'address_not_allowed'] as const;

/** What became of one delivery attempt (`cdrf_deliveries_total{outcome}`). */
export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'failed_permanently';
export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'none';

const DELIVERY_OUTCOMES: DeliveryOutcome[] = ['delivered', 'retrying', 'dead', 'failed_permanently'];
const STATUS_CLASSES: StatusClass[] = ['2xx', '3xx', '4xx', '5xx', 'none'];

/** Queue states reported by `cdrf_queue_jobs`, as BullMQ names them. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

export const metrics = {
  notifications: new Counter({
    name: 'cdrf_notifications_total',
    help: 'Notifications received, by kind (cdr, event, other; unknown when refused before parsing) and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [],
  }),
  duplicates: new Counter({
    name: 'cdrf_notification_duplicates_total',
    help: 'Resent notifications recognised as duplicates and not queued again',
    registers: [],
  }),
  authRefusals: new Counter({
    name: 'cdrf_auth_refusals_total',
    help: 'Notifications refused for a missing or wrong token or a sender address not allowed',
    labelNames: ['reason'] as const,
    registers: [],
  }),
  ackLatency: new Histogram({
    name: 'cdrf_ack_latency_seconds',
    help: 'From receipt of a notification to its 200 answer (stored durably)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [],
  }),
  deliveries: new Counter({
    name: 'cdrf_deliveries_total',
    help: 'Delivery attempts, by destination, outcome (delivered, retrying, dead, failed_permanently) and HTTP status class (none without one)',
    labelNames: ['destination', 'outcome', 'status_class'] as const,
    registers: [],
  }),
  deliveryAttempt: new Histogram({
    name: 'cdrf_delivery_attempt_seconds',
    help: 'Duration of one delivery attempt, successful or not',
    labelNames: ['destination'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [],
  }),
  deliveryLatency: new Histogram({
    name: 'cdrf_delivery_latency_seconds',
    help: 'From receipt of the notification to its delivery (retries included)',
    labelNames: ['destination'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
    registers: [],
  }),
  queueJobs: new Gauge({
    name: 'cdrf_queue_jobs',
    help: 'Jobs per queue and state (waiting, active, delayed, failed = dead letters, completed), read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const snapshots = await queueSnapshots();
      this.reset();
      for (const snapshot of snapshots) {
        for (const state of QUEUE_STATES)
          this.set({ queue: snapshot.name, state }, snapshot.counts[state] ?? 0);
      }
    },
  }),
  spoolDepth: new Gauge({
    name: 'cdrf_spool_depth',
    help: 'Notifications in the receiver spool (acknowledged while Redis was unavailable, not yet in the queue)',
    registers: [],
    collect() {
      this.set(spoolDepthSource());
    },
  }),
  queueOldestWaitingAge: new Gauge({
    name: 'cdrf_queue_oldest_waiting_age_seconds',
    help: 'How long the longest-waiting of the next 50 jobs in line of each queue has been waiting, retries left out (0 when none waits), read at scrape time',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      const snapshots = await queueSnapshots();
      this.reset();
      for (const snapshot of snapshots) this.set({ queue: snapshot.name }, snapshot.oldestWaitingAgeSec);
    },
  }),
  queuePaused: new Gauge({
    name: 'cdrf_queue_paused',
    help: 'Whether a queue is paused (from the queue dashboard): 1 when paused, 0 when not. Read at scrape time',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      const snapshots = await queueSnapshots();
      this.reset();
      for (const snapshot of snapshots) this.set({ queue: snapshot.name }, snapshot.paused ? 1 : 0);
    },
  }),
  redisUp: new Gauge({
    name: 'cdrf_redis_up',
    help: 'Whether Redis answers this process: 1 when each of the connections its queues use answers a PING within 1 s, 0 when one does not. Read at scrape time',
    registers: [registry],
    async collect() {
      this.set((await redisAnswers()) ? 1 : 0);
    },
  }),
  queueHold: new Gauge({
    name: 'cdrf_queue_hold_seconds',
    help: "How long a destination's hold (a Retry-After, or its circuit breaker) has left: no delivery is sent before; 0 when none. Read at scrape time",
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      const snapshots = await queueSnapshots();
      this.reset();
      for (const snapshot of snapshots)
        if (snapshot.name !== INGEST_QUEUE) this.set({ queue: snapshot.name }, snapshot.holdSec);
    },
  }),
};

let spoolDepthSource: () => number = () => 0;

/** The receiver tells the spool-depth gauge where to read it. */
export function watchSpoolDepth(source: () => number): void {
  spoolDepthSource = source;
}

export function statusClass(status: number | undefined): StatusClass {
  if (status === undefined || status < 200 || status >= 600) return 'none';
  return `${Math.floor(status / 100)}xx` as StatusClass;
}

/**
 * Adds the receiver's metrics to the registry, each series at zero, so that `increase()` sees the
 * first refusal or the first 503 too (the example alerts read them). Called by the receiver only.
 */
export function useReceiverMetrics(): void {
  for (const metric of [
    metrics.notifications,
    metrics.duplicates,
    metrics.authRefusals,
    metrics.ackLatency,
    metrics.spoolDepth,
  ] as Metric[])
    registry.registerMetric(metric);
  for (const outcome of NOTIFICATION_OUTCOMES) {
    const kinds = READ_OUTCOMES.includes(outcome) ? EventKind.options : ['unknown'];
    for (const kind of kinds) metrics.notifications.inc({ kind, outcome }, 0);
  }
  for (const reason of AUTH_REFUSAL_REASONS) metrics.authRefusals.inc({ reason }, 0);
}

/**
 * Adds the delivery metrics to the registry, and a destination's series at zero, so that
 * `increase()` sees the first dead delivery too (a series that appears at 1 has no increase).
 */
export function initDeliverySeries(destination: string): void {
  for (const metric of [metrics.deliveries, metrics.deliveryAttempt, metrics.deliveryLatency] as Metric[])
    registry.registerMetric(metric);
  for (const outcome of DELIVERY_OUTCOMES) {
    for (const status_class of STATUS_CLASSES)
      metrics.deliveries.inc({ destination, outcome, status_class }, 0);
  }
}

// --- Queue gauges: read from BullMQ when scraped --------------------------------------------------

interface QueueSnapshot {
  name: string;
  counts: Record<string, number>;
  oldestWaitingAgeSec: number;
  holdSec: number;
  paused: boolean;
}

/** The queues this process reports on, by Redis key prefix and name; several users share one entry. */
const watched = new Map<string, { queue: Queue; users: number }>();

/**
 * Adds queues to the `cdrf_queue_*` gauges of this process until the returned function is called.
 * A queue watched twice (the receiver and a worker in one process) is reported once.
 */
export function watchQueues(queues: readonly Queue[]): () => void {
  const keys = queues.map((queue) => {
    const key = queue.qualifiedName;
    const entry = watched.get(key);
    if (entry) entry.users++;
    else watched.set(key, { queue, users: 1 });
    return key;
  });
  // A snapshot taken before would leave these queues out of the next scrape.
  lastSnapshot = undefined;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const key of keys) {
      const entry = watched.get(key);
      if (entry && --entry.users === 0) watched.delete(key);
    }
    lastSnapshot = undefined;
  };
}

/** A queue that does not answer within this is left out of the scrape rather than hold it. */
const QUEUE_READ_TIMEOUT_MS = 2_000;
let lastSnapshot: { at: number; result: Promise<QueueSnapshot[]> } | undefined;

/** The queue gauges are collected in the same scrape: they share one round of reads. */
function queueSnapshots(): Promise<QueueSnapshot[]> {
  const now = Date.now();
  if (lastSnapshot && now - lastSnapshot.at < 1_000) return lastSnapshot.result;
  const result = Promise.all([...watched.values()].map(({ queue }) => readQueue(queue))).then((all) =>
    all.filter((snapshot): snapshot is QueueSnapshot => snapshot !== undefined),
  );
  lastSnapshot = { at: now, result };
  return result;
}

/** The ioredis connection a queue reads through (BullMQ 6 types it as its own backend's client). */
async function connectionOf(queue: Queue): Promise<Redis> {
  return (await queue.getBackend().client) as unknown as Redis;
}

/**
 * Whether every queue this process watches is on a connection that answers a PING within 1 s
 * (true when it watches none). For `cdrf_redis_up` and a worker's `/readyz`; never rejects.
 */
export async function redisAnswers(): Promise<boolean> {
  const answers = await Promise.all(
    [...watched.values()].map(({ queue }) =>
      within(1_000, false, async () => {
        const client = await connectionOf(queue);
        return client.status === 'ready' && (await client.ping()) === 'PONG';
      }),
    ),
  );
  return answers.every(Boolean);
}

/** What `read` gives, or `otherwise` when it fails or takes longer than `ms` (a scrape never hangs). */
async function within<T>(ms: number, otherwise: T, read: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
  });
  const result = read();
  try {
    return await Promise.race([result, timeout]);
  } catch {
    return otherwise;
  } finally {
    clearTimeout(timer);
    result.catch(() => {});
  }
}

/**
 * The jobs next in line, whose longest wait `cdrf_queue_oldest_waiting_age_seconds` reports. Not
 * only the next one: a job whose worker died goes back to the front of the line, and reporting that
 * one alone showed ~0 s while hundreds waited behind it.
 */
const NEXT_IN_LINE = 50;

/**
 * Four cheap calls: the counts (one script), the jobs next in line (the tail of the wait list), the
 * hold (two reads of one key) and whether it is paused. A queue whose connection is down is left out at once.
 */
async function readQueue(queue: Queue): Promise<QueueSnapshot | undefined> {
  return within(QUEUE_READ_TIMEOUT_MS, undefined, async (): Promise<QueueSnapshot | undefined> => {
    if ((await connectionOf(queue)).status !== 'ready') return undefined;
    const [counts, nextInLine, holdMs, paused] = await Promise.all([
      queue.getJobCounts(...QUEUE_STATES),
      queue.getJobs(['waiting'], -NEXT_IN_LINE, -1),
      queueHoldMs(queue),
      queue.isPaused(),
    ]);
    const now = Date.now();
    let ageSec = 0;
    for (const job of nextInLine) {
      // A retry is left out: BullMQ keeps no record of when its delay ran out (it clears `delay`),
      // and its last attempt's start would count the whole backoff as waiting. It joined the line
      // at the back, so the jobs behind it are younger: theirs is a wait it has had at least.
      if (job.attemptsMade > 0) continue;
      // Waiting since it was added, or since it was taken and put back (a hold, a worker that died).
      const since = Math.max(job.timestamp + (job.opts.delay ?? 0), job.processedOn ?? 0);
      ageSec = Math.max(ageSec, (now - since) / 1000);
    }
    return { name: queue.name, counts, oldestWaitingAgeSec: ageSec, holdSec: holdMs / 1000, paused };
  });
}

// --- Serving -------------------------------------------------------------------------------------

/** The registry in the Prometheus text format, as an HTTP response. */
export async function metricsResponse(): Promise<Response> {
  return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } });
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A worker process's HTTP server: `GET /metrics` (Prometheus), `GET /healthz` (the process runs) and
 * `GET /readyz` (Redis answers it). No authentication: bind it where only Prometheus reaches it.
 */
export async function startMetricsServer(
  port: number,
  logger: Logger,
  host = '0.0.0.0',
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'method not allowed: use GET' }));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path === '/readyz') {
      // A worker without Redis runs but cannot work: say so, as the receiver's /readyz does.
      void redisAnswers().then((up) => {
        res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(up ? { status: 'ok', redis: 'up' } : { status: 'degraded', redis: 'down' }));
      });
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found: GET /metrics, /healthz or /readyz' }));
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (error: unknown) => {
        logger.warn({ error: (error as Error).message }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'metrics collection failed' }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        listenError(error, port, host, {
          port: 'set workers.metricsPort (METRICS_PORT where the config does not set it) to a free port for the metrics, or 0 to turn them off',
          host: 'set workers.metricsHost to one of its addresses, or 0.0.0.0',
        }),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  logger.info({ port: actual, host }, 'metrics server listening');
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
