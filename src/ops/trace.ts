import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DestinationConfig, ForwarderConfig } from '../config/index.ts';
import { replayedFrom } from '../delivery/replay.ts';
import { attemptsOf } from '../delivery/retry.ts';
import { compileFilter } from '../fanout/filter.ts';
import { eventsOfCall } from '../queue/call-index.ts';
import { queueHoldMs } from '../queue/hold.ts';
import { eventOf, type IngestJobData, notificationsOf } from '../queue/ingest.ts';
import { deliveryJobId, destinationQueueName, INGEST_QUEUE, seenKey } from '../queue/names.ts';
import type { CallEvent } from '../telecmi/index.ts';

/** What became of an event at one destination. */
export type DeliveryState =
  | 'delivered'
  | 'dead'
  | 'retrying'
  | 'in flight'
  | 'held'
  | 'paused'
  | 'pending'
  | 'not wanted'
  | 'awaiting fan-out'
  | 'no record';

export interface DestinationTrace {
  destination: string;
  state: DeliveryState;
  attemptsMade?: number;
  attempts?: number;
  /** When it was delivered, or given up (ISO 8601). */
  finishedAt?: string;
  /** Delivered to an HTTP destination: the status it answered. */
  status?: number;
  /** The error of the last failed attempt. */
  lastError?: string;
  /** Retrying: the back-off before the next attempt, counted from the last one. */
  retryDelayMs?: number;
  /** Held: when the destination's hold (a `Retry-After`, or its circuit breaker) ends (ISO 8601). */
  heldUntil?: string;
  /** What it was each time it was replayed, oldest first (`it was dead after 3 attempts: …`). */
  replays?: string[];
}

/** The fields that say what an event is; never a phone number. */
export type EventSummary = Pick<
  CallEvent,
  'kind' | 'status' | 'provider' | 'callId' | 'direction' | 'leg' | 'receivedAt'
>;

export interface EventTrace {
  eventId: string;
  /** Whether Redis holds anything of it: its ingest job or a delivery. */
  found: boolean;
  event?: EventSummary;
  /** The ingest job that holds it; known while its de-duplication mark lasts (`dedupeWindowSec`). */
  ingest?: { jobId: string; state: string };
  destinations: DestinationTrace[];
}

/**
 * Follows one event id (the `id` the receiver answers, and every log line carries) through Redis:
 * the ingest job that holds it, then its delivery job at each destination. Answers "did call X
 * reach the CRM, and if not, why" without reading logs. Jobs are kept as long as the queues keep
 * them (ingest: a day; deliveries: a week, dead ones until replayed or removed).
 */
export async function traceEvent(
  config: ForwarderConfig,
  connection: Redis,
  eventId: string,
): Promise<EventTrace> {
  const { prefix } = config.redis;
  const ingestQueue = new Queue<IngestJobData>(INGEST_QUEUE, { connection, prefix });
  const deliveryQueues = config.destinations.map(
    (destination) => new Queue<CallEvent>(destinationQueueName(destination.name), { connection, prefix }),
  );
  try {
    let event: CallEvent | undefined;
    let ingest: EventTrace['ingest'];
    const ingestJobId = await connection.get(seenKey(prefix, eventId));
    const ingestJob = ingestJobId ? await ingestQueue.getJob(ingestJobId) : undefined;
    if (ingestJob?.id) {
      ingest = { jobId: ingestJob.id, state: await ingestJob.getState() };
      const notification = notificationsOf(ingestJob.data).find(({ id }) => id === eventId);
      if (notification) event = eventOf(notification);
    }

    const jobs = await Promise.all(
      config.destinations.map((destination, index) =>
        deliveryQueues[index]?.getJob(deliveryJobId(eventId, destination.name)),
      ),
    );
    const anyDelivery = jobs.find((job) => job !== undefined);
    // Every delivery job carries the event: it tells what the event is once the ingest job is gone.
    event ??= anyDelivery?.data;

    const destinations = await Promise.all(
      config.destinations.map(async (destination, index): Promise<DestinationTrace> => {
        const job = jobs[index];
        const queue = deliveryQueues[index];
        if (job && queue)
          return deliveryTrace(destination, queue, job, await queueHoldMs(queue), await queue.isPaused());
        // No delivery job: the filter said no, or the fan-out has not run yet, or it is gone.
        const name = destination.name;
        if (event && !compileFilter(destination.filter)(event))
          return { destination: name, state: 'not wanted' };
        if (ingest && ingest.state !== 'completed') return { destination: name, state: 'awaiting fan-out' };
        return { destination: name, state: 'no record' };
      }),
    );
    return {
      eventId,
      found: ingest !== undefined || anyDelivery !== undefined,
      event: event && summary(event),
      ingest,
      destinations,
    };
  } finally {
    await Promise.all([ingestQueue, ...deliveryQueues].map((queue) => queue.close()));
  }
}

export interface CallTrace {
  /** The id asked for: a call id (`callId`) or a conversation id (`conversationId`). */
  call: string;
  /** Its events, oldest first, as `traceEvent` follows them. */
  events: EventTrace[];
}

/**
 * Every event of a call, found by the call's id or its conversation's (TeleCMI's `cmiuuid`,
 * `conversation_uuid` or `call_id`) through the index the fan-out keeps (`retention.deliveredDays`). An event the
 * fan-out has not reached yet is not listed (`npm run ledger` counts those).
 */
export async function traceCall(
  config: ForwarderConfig,
  connection: Redis,
  call: string,
): Promise<CallTrace> {
  const eventIds = await eventsOfCall(connection, config.redis.prefix, call);
  const events: EventTrace[] = [];
  for (const eventId of eventIds) events.push(await traceEvent(config, connection, eventId));
  return { call, events };
}

/**
 * A call's trace as a person reads it: a line for the call, then each event's trace. `keptDays`:
 * how long the call index lasts (`retention.deliveredDays`).
 */
export function formatCallTrace(trace: CallTrace, keptDays: number): string {
  if (trace.events.length === 0)
    return `call ${trace.call}: no events found (not fanned out yet, or older than the ${keptDays} days retention.deliveredDays keeps)`;
  const count = `${trace.events.length} event${trace.events.length === 1 ? '' : 's'}`;
  return [`call ${trace.call}: ${count}`, ...trace.events.map(formatTrace)].join('\n\n');
}

function summary(event: CallEvent): EventSummary {
  const { kind, status, provider, callId, direction, leg, receivedAt } = event;
  return { kind, status, provider, callId, direction, leg, receivedAt };
}

/**
 * `holdMs`: what is left of the destination's hold (0 when there is none); `paused`: its queue is
 * paused (the queue dashboard's pause), so no worker takes what waits there.
 */
async function deliveryTrace(
  config: DestinationConfig,
  queue: Queue<CallEvent>,
  job: Job<CallEvent>,
  holdMs: number,
  paused: boolean,
): Promise<DestinationTrace> {
  const destination = config.name;
  // The destination's own retry policy, as its worker applies it; and what it was before a replay.
  const { logs } = await queue.getJobLogs(job.id as string);
  const replays = logs.flatMap((line) => replayedFrom(line) ?? []);
  const attempts = {
    attemptsMade: job.attemptsMade,
    attempts: attemptsOf(job, config.retry),
    ...(replays.length > 0 && { replays }),
  };
  const held = (): DestinationTrace => ({
    destination,
    state: 'held',
    ...attempts,
    ...(holdMs > 0 && { heldUntil: new Date(Date.now() + holdMs).toISOString() }),
  });
  const finishedAt = job.finishedOn === undefined ? undefined : new Date(job.finishedOn).toISOString();
  switch (await job.getState()) {
    case 'completed': {
      const status = (job.returnvalue as { status?: unknown } | null)?.status;
      return {
        destination,
        state: 'delivered',
        ...attempts,
        finishedAt,
        ...(typeof status === 'number' && { status }),
      };
    }
    case 'failed':
      return { destination, state: 'dead', ...attempts, finishedAt, lastError: job.failedReason };
    case 'active':
      return { destination, state: 'in flight', ...attempts };
    case 'delayed':
      // Deliveries are added without a delay: one that never ran was taken just as a Retry-After
      // came, and put back until its end; one that has failed before is waiting out its back-off.
      if (job.attemptsMade === 0) return held();
      return {
        destination,
        state: 'retrying',
        ...attempts,
        lastError: job.failedReason,
        retryDelayMs: job.delay,
      };
    default:
      // Waiting: while the queue is paused, or the destination's hold lasts, no worker takes it.
      if (paused) return { destination, state: 'paused', ...attempts };
      return holdMs > 0 ? held() : { destination, state: 'pending', ...attempts };
  }
}

/** The trace as a person reads it: the event, then one line per destination. */
export function formatTrace(trace: EventTrace): string {
  if (!trace.found)
    return `event ${trace.eventId}: not found (never received, or older than what Redis keeps)`;
  const { event, ingest } = trace;
  const what = event
    ? `${event.kind} ${event.status ?? '(no status)'} (${event.provider}), call ${event.callId}, received ${event.receivedAt}`
    : 'kept only by its deliveries';
  const rows: [string, string, string][] = [
    [
      'fan-out',
      ingest ? (ingest.state === 'completed' ? 'done' : ingest.state) : 'unknown',
      ingest ? `(ingest job ${ingest.jobId})` : '(its ingest job is no longer kept)',
    ],
    ...trace.destinations.map((d): [string, string, string] => [
      d.destination,
      d.state,
      `${detail(d)}${replayed(d.replays)}`,
    ]),
  ];
  const nameWidth = Math.max(...rows.map(([name]) => name.length));
  const stateWidth = Math.max(...rows.map(([, state]) => state.length));
  const lines = rows.map(([name, state, text]) =>
    `  ${name.padEnd(nameWidth)}  ${state.padEnd(stateWidth)}  ${text}`.trimEnd(),
  );
  return [`event ${trace.eventId}: ${what}`, ...lines].join('\n');
}

function detail(d: DestinationTrace): string {
  const tries = (n = 0) => `${n} attempt${n === 1 ? '' : 's'}`;
  switch (d.state) {
    case 'delivered':
      return `after ${tries(d.attemptsMade)}, at ${d.finishedAt}${d.status === undefined ? '' : ` (HTTP ${d.status})`}`;
    case 'dead':
      return `after ${tries(d.attemptsMade)}, at ${d.finishedAt}: ${d.lastError} (npm run replay -- --destination ${d.destination})`;
    case 'retrying':
      return `${d.attemptsMade} of ${d.attempts} attempts failed; the next one waits ${duration(d.retryDelayMs ?? 0)}: ${d.lastError}`;
    case 'in flight':
      return `attempt ${(d.attemptsMade ?? 0) + 1} of ${d.attempts}`;
    case 'held':
      return `not sent yet: the destination is on hold (a Retry-After, or its circuit breaker)${d.heldUntil ? ` until ${d.heldUntil}` : ''}`;
    case 'paused':
      return "not sent yet: the destination's queue is paused; resume it in the queue dashboard";
    case 'pending':
      return 'queued';
    case 'not wanted':
      return 'its filter does not take this event';
    case 'awaiting fan-out':
      return 'the fan-out has not reached it yet';
    case 'no record':
      return 'no delivery job: removed after the time deliveries are kept, or the destination is newer than the event';
  }
}

/** `; replayed once: it was dead after 3 attempts: …` (the last replay's note). */
function replayed(replays: string[] = []): string {
  const last = replays.at(-1);
  if (last === undefined) return '';
  const times = replays.length === 1 ? 'once' : `${replays.length} times, the last`;
  return `; replayed ${times}: ${last}`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 2 * 3600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3600_000)} h`;
}
