/**
 * Plays simulated TeleCMI traffic against a receiver: whole calls (see `calls.ts`), paced at `rate`
 * notifications a second, and counts what the receiver answered.
 *
 * Each call in progress plays its notifications one after the other, each sent once the one before
 * it is answered, so the receiver sees a call's events in order and a resend after its original.
 * Several calls are in progress at once (rate / 4 of them, at most `concurrency`): that bounds the
 * requests in flight.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { buildCall, type Fields, type Notification, SAMPLE_FILES, type Samples, seededRng } from './calls.ts';

/** The documented payloads, in the shared folder beside the repository. */
export const DEFAULT_SAMPLES_DIR = new URL('../../../shared/telecmi/samples/', import.meta.url);

export interface SimulateOptions {
  /** The receiver's webhook URL, e.g. `http://localhost:3000/webhook/cdr`. */
  url: string;
  /** Notifications a second. */
  rate: number;
  /** Seconds during which new calls start (calls in progress then are finished). */
  duration?: number;
  /** Stop after this many calls. Without `duration` nor `calls`: 60 s. */
  calls?: number;
  /** Sent as `?token=`. */
  token?: string;
  /** Share of notifications sent twice (default 0.1). */
  resendShare?: number;
  /** Share of notifications sent by GET (default 0.2). */
  getShare?: number;
  /** Same seed, same calls (ids included); default random. */
  seed?: number;
  samplesDir?: string | URL;
  /** Most requests in flight (default 50). */
  concurrency?: number;
  /** Per request (default 10000). */
  timeoutMs?: number;
  /** Called every `progressEveryMs` (default 5000) with the counts so far. */
  onProgress?: (summary: Summary) => void;
  progressEveryMs?: number;
}

export interface Summary {
  seed: number;
  /** Calls started. */
  calls: number;
  /** Requests sent, resends included. */
  sent: number;
  /** Distinct notifications: sent minus resends. */
  distinct: number;
  byKind: { cdr: number; event: number };
  byMethod: { GET: number; POST: number };
  resends: number;
  /** Answers by HTTP status ("200": 1234). */
  statuses: Record<string, number>;
  /** What the receiver said with the first answer of each status outside 2xx ("401": "unauthorized: …"). */
  refusals: Record<string, string>;
  /** Answers `"duplicate": true`. */
  duplicates: number;
  /** Resends answered 2xx without `"duplicate": true` (should be 0). */
  resendsNotRecognised: number;
  /** First sends answered `"duplicate": true` (a seed played twice against the same Redis). */
  originalsAnsweredDuplicate: number;
  /** Requests with no answer (refused, timed out). */
  errors: number;
  /** The first few distinct error messages. */
  errorMessages: string[];
  elapsedMs: number;
  /** Every request answered 2xx. */
  ok: boolean;
}

/** The receiver's `{"error": "…"}`, or the start of whatever else answered. */
function refusalOf(text: string): string {
  try {
    const { error } = JSON.parse(text) as { error?: unknown };
    if (typeof error === 'string') return error;
  } catch {}
  return text.slice(0, 200).trim() || '(no body)';
}

/** Reads the documented payloads a call is built from; names the missing file when one is. */
export function loadSamples(dir: string | URL = DEFAULT_SAMPLES_DIR): Samples {
  const base = typeof dir === 'string' ? pathToFileURL(`${resolve(dir)}/`) : dir;
  const samples = {} as Samples;
  for (const file of SAMPLE_FILES) {
    const url = new URL(file, base);
    try {
      samples[file] = JSON.parse(readFileSync(url, 'utf8')) as Fields;
    } catch (error) {
      throw new Error(`cannot read sample ${url.pathname}: ${(error as Error).message}`);
    }
  }
  return samples;
}

/** The request for a notification: JSON body, or the fields as a query string; the token in the query. */
export function toRequest(url: string, notification: Notification, token?: string) {
  const target = new URL(url);
  if (notification.method === 'GET') {
    for (const [key, value] of Object.entries(notification.fields))
      target.searchParams.append(key, String(value));
  }
  if (token !== undefined) target.searchParams.set('token', token);
  return notification.method === 'GET'
    ? { url: target.toString(), method: 'GET' as const }
    : {
        url: target.toString(),
        method: 'POST' as const,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(notification.fields),
      };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function simulate(options: SimulateOptions): Promise<Summary> {
  const { url, rate, token, concurrency = 50, timeoutMs = 10_000 } = options;
  if (!(rate > 0)) throw new RangeError(`rate must be above 0; got ${rate}`);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const rng = seededRng(seed);
  const samples = loadSamples(options.samplesDir);
  const started = performance.now();
  const durationSec = options.duration ?? (options.calls === undefined ? 60 : undefined);
  const deadline = durationSec === undefined ? Number.POSITIVE_INFINITY : started + durationSec * 1000;
  const maxCalls = options.calls ?? Number.POSITIVE_INFINITY;
  const dispatcher = new Agent({
    connections: concurrency,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });

  const summary: Summary = {
    seed,
    calls: 0,
    sent: 0,
    distinct: 0,
    byKind: { cdr: 0, event: 0 },
    byMethod: { GET: 0, POST: 0 },
    resends: 0,
    statuses: {},
    refusals: {},
    duplicates: 0,
    resendsNotRecognised: 0,
    originalsAnsweredDuplicate: 0,
    errors: 0,
    errorMessages: [],
    elapsedMs: 0,
    ok: true,
  };
  const snapshot = (): Summary => ({
    ...structuredClone(summary),
    elapsedMs: performance.now() - started,
    ok: summary.errors === 0 && Object.keys(summary.statuses).every((status) => status.startsWith('2')),
  });

  // Pacing: each send takes the next slot, 1/rate apart; slots missed while every call waits for an
  // answer are not made up in a burst.
  const interval = 1000 / rate;
  let nextSlot = started;
  async function slot(): Promise<void> {
    const now = performance.now();
    const at = Math.max(nextSlot, now);
    nextSlot = at + interval;
    if (at > now) await sleep(at - now);
  }

  async function send(notification: Notification): Promise<void> {
    summary.sent++;
    summary.byKind[notification.kind]++;
    summary.byMethod[notification.method]++;
    if (notification.resend) summary.resends++;
    else summary.distinct++;
    try {
      const { url: target, ...init } = toRequest(url, notification, token);
      const response = await request(target, { ...init, dispatcher });
      const text = await response.body.text();
      const status = String(response.statusCode);
      summary.statuses[status] = (summary.statuses[status] ?? 0) + 1;
      if (response.statusCode < 200 || response.statusCode > 299) {
        summary.refusals[status] ??= refusalOf(text);
        return;
      }
      const duplicate = parseDuplicate(text);
      if (duplicate) summary.duplicates++;
      if (notification.resend && !duplicate) summary.resendsNotRecognised++;
      if (!notification.resend && duplicate) summary.originalsAnsweredDuplicate++;
    } catch (error) {
      summary.errors++;
      const message = errorMessage(error);
      if (summary.errorMessages.length < 5 && !summary.errorMessages.includes(message)) {
        summary.errorMessages.push(message);
      }
    }
  }

  async function playCalls(): Promise<void> {
    while (summary.calls < maxCalls && performance.now() < deadline) {
      summary.calls++;
      for (const notification of buildCall(rng, samples, {
        startMs: Date.now(),
        resendShare: options.resendShare,
        getShare: options.getShare,
      })) {
        await slot();
        await send(notification);
      }
    }
  }

  const progress = options.onProgress;
  const timer = progress && setInterval(() => progress(snapshot()), options.progressEveryMs ?? 5000);
  try {
    const lanes = Math.max(1, Math.min(concurrency, Math.ceil(rate / 4)));
    await Promise.all(Array.from({ length: lanes }, playCalls));
  } finally {
    if (timer) clearInterval(timer);
    await dispatcher.close();
  }
  return snapshot();
}

function parseDuplicate(text: string): boolean {
  try {
    return (JSON.parse(text) as { duplicate?: unknown }).duplicate === true;
  } catch {
    return false;
  }
}

/** undici wraps the cause (`ECONNREFUSED`, a timeout) of a failed request. */
function errorMessage(error: unknown): string {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.cause?.code ?? err.code;
  const message = err.cause?.message ?? err.message ?? String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
