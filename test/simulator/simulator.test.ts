import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCall, type Notification, seededRng } from '../../src/simulator/calls.ts';
import { loadSamples, simulate } from '../../src/simulator/run.ts';
import { normalise, parseJsonBody } from '../../src/telecmi/index.ts';
import { spawnEntry } from '../helpers/process.ts';
import { queuedEvents, startTestReceiver, type TestReceiver } from '../helpers/receiver.ts';
import { SAMPLES_DIR } from '../helpers/samples.ts';

const samples = loadSamples(SAMPLES_DIR);

/** 500 calls of every seed, each call a list of notifications. */
function manyCalls(seed: number): Notification[][] {
  const rng = seededRng(seed);
  return Array.from({ length: 500 }, (_, i) => buildCall(rng, samples, { startMs: 1_760_000_000_000 + i }));
}
const calls = [1, 2, 3].flatMap(manyCalls);
const all = calls.flat();

/** The fields as the receiver reads them: a JSON body, or a query string (all strings). */
function asReceived(notification: Notification): Record<string, unknown> {
  if (notification.method === 'POST') return parseJsonBody(JSON.stringify(notification.fields)) as never;
  return Object.fromEntries(Object.entries(notification.fields).map(([key, value]) => [key, String(value)]));
}

describe('simulated calls', () => {
  it('are accepted by the normaliser, with the kind, provider and numbers they were built as', () => {
    for (const notification of all) {
      const result = normalise(asReceived(notification), new Date());
      expect(result.ok, JSON.stringify(notification)).toBe(true);
      if (!result.ok) continue;
      expect(result.event.kind).toBe(notification.kind);
      expect(result.event.provider).toBe(notification.sample.startsWith('piopiy') ? 'piopiy' : 'chub');
      const { from, to, callerid } = notification.fields;
      if (from !== undefined || callerid !== undefined)
        expect(result.event.from).toBe(String(from ?? callerid));
      if (to !== undefined) expect(result.event.to).toBe(String(to));
    }
  });

  it("keep the sample's fields and field types", () => {
    const mismatches = new Set<string>();
    for (const { fields, sample } of all) {
      const template = samples[sample];
      for (const [key, value] of Object.entries(fields)) {
        if (typeof value !== typeof template[key]) mismatches.add(`${sample}: ${key} is a ${typeof value}`);
      }
      for (const key of Object.keys(template)) {
        if (!(key in fields) && key !== 'voicemail' && key !== 'voicename')
          mismatches.add(`${sample}: no ${key}`);
      }
    }
    expect([...mismatches]).toEqual([]);
  });

  it('cover every kind of call, both methods, resends and long phone numbers', () => {
    const used = new Set(all.map((notification) => notification.sample));
    expect(used.size).toBe(Object.keys(samples).length);
    expect(all.some((notification) => notification.method === 'GET')).toBe(true);
    expect(all.some((notification) => notification.resend)).toBe(true);
    const lengths = new Set(all.map((notification) => String(notification.fields.from ?? '').length));
    for (const length of [11, 12, 13, 14, 15]) expect(lengths).toContain(length);
  });

  it('play events in time order and the CDRs last', () => {
    for (const call of calls) {
      const originals = call.filter((notification) => !notification.resend);
      const times = originals.map((notification) => Number(notification.fields.time));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1] as number);
      const firstCdr = originals.findIndex((notification) => notification.kind === 'cdr');
      expect(firstCdr).toBeGreaterThan(0);
      expect(originals.slice(firstCdr).every((notification) => notification.kind === 'cdr')).toBe(true);
    }
  });

  it('send a resend identical to the notification before it', () => {
    for (const call of calls) {
      call.forEach((notification, i) => {
        if (!notification.resend) return;
        const original = call[i - 1] as Notification;
        expect(original.resend).toBe(false);
        expect(notification.fields).toEqual(original.fields);
        expect(notification.method).toBe(original.method);
      });
    }
  });

  it('give every notification its own id, and a resend its original’s', () => {
    const ids = new Set<string>();
    for (const notification of all) {
      const result = normalise(asReceived(notification), new Date());
      if (!result.ok) throw new Error(result.error);
      expect(ids.has(result.event.id)).toBe(notification.resend);
      ids.add(result.event.id);
    }
  });

  it('are the same for the same seed', () => {
    expect(manyCalls(7).slice(0, 20)).toEqual(manyCalls(7).slice(0, 20));
  });
});

describe('simulate against the real receiver', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(() => receiver.dispose());

  it('is answered 200 every time, resends as duplicates, and queues each distinct notification once', async () => {
    const summary = await simulate({
      url: `${receiver.url}/webhook/cdr`,
      rate: 200,
      calls: 30,
      seed: 42,
      resendShare: 0.2,
      samplesDir: SAMPLES_DIR,
    });
    expect(summary.calls).toBe(30);
    expect(summary.errors).toBe(0);
    expect(summary.statuses).toEqual({ 200: summary.sent });
    expect(summary.ok).toBe(true);
    expect(summary.resends).toBeGreaterThan(0);
    expect(summary.duplicates).toBe(summary.resends);
    expect(summary.resendsNotRecognised).toBe(0);
    expect(summary.originalsAnsweredDuplicate).toBe(0);
    expect(summary.byMethod.GET).toBeGreaterThan(0);
    expect(summary.distinct).toBe(summary.sent - summary.resends);

    const queued = await queuedEvents(receiver.queue);
    expect(queued).toHaveLength(summary.distinct);
    expect(new Set(queued.map((event) => event.id)).size).toBe(summary.distinct);
  });

  it('sends the token, and is not ok when the receiver refuses it', async () => {
    const token = 'sim-token-0123456789abcdef';
    const guarded = await startTestReceiver(`receiver:\n  token: ${token}\n`);
    try {
      const url = `${guarded.url}/webhook/cdr`;
      const accepted = await simulate({ url, token, rate: 200, calls: 5, seed: 3, getShare: 0.5 });
      expect(accepted.statuses).toEqual({ 200: accepted.sent });
      const refused = await simulate({ url, rate: 200, calls: 2, seed: 4 });
      expect(refused.statuses).toEqual({ 401: refused.sent });
      expect(refused.refusals).toEqual({
        401: 'unauthorized: send the webhook token as ?token=, as the last path segment or as a Bearer token',
      });
      expect(refused.ok).toBe(false);

      // The command takes it from WEBHOOK_TOKEN, so that it shows neither on screen nor in `ps`.
      const command = (webhookToken: string) =>
        spawnEntry('scripts/simulate.ts', { WEBHOOK_TOKEN: webhookToken }, ['--url', url, '--calls', '2']);
      const fromEnv = command(token);
      expect(await fromEnv.exited).toBe(0);
      expect(fromEnv.output()).toContain('ok: every notification was answered 2xx');
      const without = command('');
      expect(await without.exited).toBe(1);
      expect(without.output()).toContain('(give the token in WEBHOOK_TOKEN, or with --token)');
    } finally {
      await guarded.dispose();
    }
  });

  it('counts refused connections as errors and is not ok', async () => {
    const summary = await simulate({ url: 'http://127.0.0.1:9/webhook/cdr', rate: 100, calls: 2, seed: 1 });
    expect(summary.errors).toBe(summary.sent);
    expect(summary.ok).toBe(false);
    expect(summary.errorMessages.join()).toMatch(/ECONNREFUSED/);
  });
});
