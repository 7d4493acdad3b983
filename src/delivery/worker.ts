import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { DestinationConfig, ForwarderConfig } from '../config/index.ts';
import { destinationTypeOf } from '../destinations/registry.ts';
import { DeliveryError } from '../destinations/types.ts';
import type { Logger } from '../ops/logger.ts';
import {
  type DeliveryOutcome,
  initDeliverySeries,
  metrics,
  statusClass,
  watchQueues,
} from '../ops/metrics.ts';
import { HOLD_ONLY_LIMITER, holdQueue } from '../queue/hold.ts';
import { destinationQueueName } from '../queue/names.ts';
import { watchConnection, workerConnection, workerRecoveryOptions } from '../queue/redis.ts';
import { closeWorker, logWorkerEvents, UnrecordedJobs } from '../queue/worker-lifecycle.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { maskNumbersInError } from '../telecmi/mask.ts';
import { attemptsOf, BACKOFF_TYPE, retryDelayMs } from './retry.ts';

/** A hold set by a failure with no `Retry-After` (a failed OAuth token request). */
const HELD_AFTER_FAILURE = 'destination held after a failure: no deliveries to it until then';

export interface RunningDelivery {
  name: string;
  worker: Worker<CallEvent>;
  close(): Promise<void>;
}

/**
 * Runs one destination: takes its jobs, hands each event to the destination, and lets BullMQ retry
 * (with our back-off) or dead-letter what fails. Several processes may run the same destination;
 * they share its queue, its rate limit and its concurrency per process.
 */
export function startDeliveryWorker(
  config: ForwarderConfig,
  destinationConfig: DestinationConfig,
  logger: Logger,
): RunningDelivery {
  const { name } = destinationConfig;
  const type = destinationTypeOf(destinationConfig);
  const log = logger.child({ destination: name });
  const destination = type.create(destinationConfig, log);
  const connection = workerConnection(config.redis.url);
  const redis = watchConnection(connection, log);

  const rateLimit = destinationConfig.rateLimit ?? type.defaultRateLimit;
  const timeoutMs = type.timeoutMs(destinationConfig);
  const labels = { destination: name };
  initDeliverySeries(name);
  // For the `cdrf_queue_*` gauges of this process, and the destination's hold.
  const queue = new Queue<CallEvent>(destinationQueueName(name), { connection, prefix: config.redis.prefix });
  // Its connection's loss is reported once, above.
  queue.on('error', () => {});
  /**
   * Until when no delivery goes to the destination, not only the one it refused: it asked us to
   * wait ("Retry-After" on a 429 or 503), or it keeps failing (`circuitBreaker`). The hold is kept
   * in Redis (src/queue/hold.ts), so the workers of every process hold off; this copy catches a
   * delivery this process took just before it was set.
   */
  let holdUntil = 0;
  /** Holds the destination for `ms` (never shortens a hold), here and, through Redis, everywhere. */
  async function hold(ms: number, message: string, fields: Record<string, unknown>): Promise<void> {
    const now = Date.now();
    const until = now + ms;
    if (until <= holdUntil) return;
    // A hold that only extends one in force (the next 503 with Retry-After) is no news.
    const level = holdUntil > now ? 'debug' : 'warn';
    holdUntil = until;
    log[level]({ ...fields, until: new Date(until).toISOString() }, message);
    // Not fatal: without it, other processes only go on until their own first refusal.
    await holdQueue(connection, queue, until - Date.now()).catch((holdError: Error) =>
      log.warn({ error: holdError.message }, 'could not share the hold with other workers'),
    );
  }
  /** Back to the queue until the hold ends, without spending an attempt. */
  async function waitOutHold(job: Job<CallEvent>, token: string): Promise<never> {
    await job.moveToDelayed(Math.max(holdUntil, Date.now()), token);
    throw new DelayedError();
  }
  const breaker = destinationConfig.circuitBreaker;
  /** Retryable failures since the last answer that was not one (this process's). */
  let failuresInARow = 0;
  const circuitOpen = () => breaker !== undefined && failuresInARow >= breaker.failures;
  /**
   * Half-open: the circuit opened, its pause is over, and this delivery asks whether the
   * destination is back. Deliveries this process takes meanwhile wait for its answer rather than
   * all going at once: on a failure the destination is held again, and they go back to the queue
   * without spending an attempt; on an answer they go.
   */
  let probe: Promise<void> | undefined;

  const unrecorded = new UnrecordedJobs();
  const worker = new Worker<CallEvent>(
    destinationQueueName(name),
    unrecorded.track(async (job: Job<CallEvent>, token?: string) => {
      // Out of attempts already: the policy was lowered since its last one. Dead now, no request.
      const maxAttempts = attemptsOf(job, destinationConfig.retry);
      if (job.attemptsMade > 0 && job.attemptsMade >= maxAttempts) {
        metrics.deliveries.inc({ ...labels, outcome: 'dead', status_class: 'none' });
        log.error(
          { eventId: job.data.id, attempts: job.attemptsMade, maxAttempts, outcome: 'dead' },
          'delivery out of attempts',
        );
        throw new UnrecoverableError(job.failedReason || 'out of attempts');
      }
      while (probe) await probe;
      if (holdUntil > Date.now() && token) await waitOutHold(job, token);
      let probeAnswered: (() => void) | undefined;
      if (circuitOpen())
        probe = new Promise<void>((resolve) => {
          probeAnswered = resolve;
        });
      const event = job.data;
      const attempt = job.attemptsMade + 1;
      const started = performance.now();
      try {
        const receipt = await destination.deliver(event, { attempt, logger: log });
        if (breaker && failuresInARow >= breaker.failures)
          log.info({ failuresInARow }, 'destination answers again: circuit closed');
        failuresInARow = 0;
        const seconds = (performance.now() - started) / 1000;
        metrics.deliveries.inc({
          ...labels,
          outcome: 'delivered',
          status_class: statusClass(receipt?.status),
        });
        const sinceReceipt = (Date.now() - Date.parse(event.receivedAt)) / 1000;
        if (sinceReceipt >= 0) metrics.deliveryLatency.observe(labels, sinceReceipt);
        log.info(
          {
            eventId: event.id,
            attempt,
            outcome: 'delivered',
            ms: Math.round(seconds * 1000),
            // HTTP destinations: what the other side answered (a `deliveredStatuses` 409, say).
            ...(receipt?.status === undefined ? {} : { httpStatus: receipt.status }),
          },
          'delivered',
        );
        // Kept on the delivered job, for `npm run trace` (an HTTP destination's answer).
        return receipt?.status === undefined ? undefined : { status: receipt.status };
      } catch (error) {
        if (error instanceof DeliveryError && error.held && token) {
          // Not its own failure (it waited on another delivery's request): back until the hold ends.
          await hold(error.retryAfterMs ?? 0, HELD_AFTER_FAILURE, {});
          log.debug({ eventId: event.id, error: error.message }, 'delivery held');
          await waitOutHold(job, token);
        }
        // The error is kept on the job (trace, the dashboard): numbers an answer quoted are masked
        // there as in the logs.
        if (!config.logging.showNumbers && error instanceof Error) maskNumbersInError(error);
        const permanent = error instanceof DeliveryError && !error.retryable;
        const lastAttempt = permanent || attempt >= maxAttempts;
        const outcome: DeliveryOutcome = permanent ? 'failed_permanently' : lastAttempt ? 'dead' : 'retrying';
        const status = error instanceof DeliveryError ? error.status : undefined;
        metrics.deliveries.inc({ ...labels, outcome, status_class: statusClass(status) });
        // A retry is routine; a delivery given up on needs a person (replay, or fix the request).
        log[lastAttempt ? 'error' : 'warn'](
          {
            eventId: event.id,
            attempt,
            maxAttempts,
            outcome,
            httpStatus: status,
            error: (error as Error).message,
          },
          'delivery failed',
        );
        // A refusal for good is an answer: the destination is up.
        failuresInARow = permanent ? 0 : failuresInARow + 1;
        const waitMs = error instanceof DeliveryError ? (error.retryAfterMs ?? 0) : 0;
        if (waitMs > 0)
          await hold(
            Math.min(waitMs, destinationConfig.retry.maxDelayMs),
            status === undefined
              ? HELD_AFTER_FAILURE
              : 'destination asked to wait (Retry-After): no deliveries to it until then',
            { httpStatus: status },
          );
        else if (breaker && circuitOpen())
          await hold(
            breaker.pauseMs,
            'circuit open: the destination keeps failing; no deliveries to it until then',
            { httpStatus: status, failuresInARow },
          );
        // UnrecoverableError: BullMQ fails the job now, whatever attempts the job was made with.
        if (lastAttempt) throw new UnrecoverableError((error as Error).message);
        throw error;
      } finally {
        metrics.deliveryAttempt.observe(labels, (performance.now() - started) / 1000);
        if (probeAnswered) {
          // After the hold a failure set: those waiting see it.
          probe = undefined;
          probeAnswered();
        }
      }
    }),
    {
      connection,
      prefix: config.redis.prefix,
      concurrency: destinationConfig.concurrency ?? type.defaultConcurrency(destinationConfig),
      // Always a limiter: BullMQ reads the hold (the rate-limit key) only for workers that have one.
      limiter: rateLimit ? { max: rateLimit.max, duration: rateLimit.perMs } : HOLD_ONLY_LIMITER,
      // The lock outlasts the longest delivery, so a slow destination never has its job taken
      // over by another worker while it is still running.
      lockDuration: Math.max(5_000, timeoutMs * 2),
      ...workerRecoveryOptions(config.workers.stalledIntervalMs),
      settings: {
        backoffStrategy: (attemptsMade, backoffType, error) =>
          backoffType === BACKOFF_TYPE ? retryDelayMs(destinationConfig.retry, attemptsMade, error) : 0,
      },
    },
  );
  logWorkerEvents(worker, unrecorded, redis, log, {
    lostLock:
      "a delivery's lock expired before its result was recorded (Redis away, or this process stalled, for longer than the lock); it goes again, with the same webhook-id",
    error: 'delivery worker error',
    // A worker that died, or lost Redis for longer than the lock, left this delivery in flight.
    stalled: 'delivery taken back from a worker that stopped or lost its lock; it goes again',
  });
  const unwatch = watchQueues([queue]);

  return {
    name,
    worker,
    async close() {
      // Waits for the deliveries in flight; the process's shutdown deadline bounds the wait, and a
      // delivery cut off by it is taken up again by another worker once its lock expires. While
      // Redis is away, see closeWorker.
      unwatch();
      await closeWorker(worker, unrecorded, redis.up);
      await destination.close();
      await queue.close();
      connection.disconnect();
    },
  };
}
