import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallEvent } from '../../src/telecmi/index.ts';
import { queuedEvents, startTestReceiver, type TestReceiver } from '../helpers/receiver.ts';
import { listSamples, SAMPLES_DIR } from '../helpers/samples.ts';

type Sample = Record<string, string | number | boolean>;
const samples = listSamples().map((file) => ({
  file,
  text: readFileSync(new URL(file, SAMPLES_DIR), 'utf8'),
  fields: JSON.parse(readFileSync(new URL(file, SAMPLES_DIR), 'utf8')) as Sample,
}));

const asForm = (fields: Sample) =>
  new URLSearchParams(Object.entries(fields).map(([key, value]) => [key, String(value)])).toString();

const encodings = {
  json: (url: string, sample: (typeof samples)[number]) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample.text }),
  form: (url: string, sample: (typeof samples)[number]) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: asForm(sample.fields),
    }),
  query: (url: string, sample: (typeof samples)[number]) => fetch(`${url}?${asForm(sample.fields)}`),
};

/** What a sample must become, written out from the documented field names (NOTES.md). */
function expectedCanonical(sample: Sample) {
  const text = (value: unknown) => (value === undefined ? null : String(value));
  return {
    callId: String(sample.cmiuuid),
    status: sample.status === undefined ? null : String(sample.status).toLowerCase(),
    leg: sample.leg === undefined ? null : String(sample.leg),
    direction: text(sample.direction),
    appId: text(sample.appid ?? sample.app_id),
    from: text(sample.from ?? sample.callerid),
    to: text(sample.to),
    virtualNumber: text(sample.virtual_number ?? sample.vn),
    user: text(sample.user),
    team: text(sample.team),
    conversationId: text(sample.conversation_uuid ?? sample.call_id),
    hangupReason: text(sample.hangup_reason),
    recording: text(sample.filename),
    occurredAt: sample.time === undefined ? undefined : new Date(Number(sample.time)).toISOString(),
  };
}

describe.each(Object.keys(encodings) as (keyof typeof encodings)[])('every sample by %s', (encoding) => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(() => receiver.dispose());

  it.each(samples.map((sample) => [sample.file, sample] as const))(
    '%s is accepted and queued',
    async (_file, sample) => {
      const response = await encodings[encoding](`${receiver.url}/webhook/cdr`, sample);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { id: string; duplicate: boolean };
      expect(body.duplicate).toBe(false);
      expect(body.id).toMatch(/^[0-9a-f]{32}$/);

      const events = (await queuedEvents(receiver.queue)).filter((event) => event.id === body.id);
      expect(events).toHaveLength(1);
      const event = events[0] as CallEvent;
      expect(() => v.parse(CallEvent, event)).not.toThrow();
      const expected = expectedCanonical(sample.fields);
      expect(event).toMatchObject({ ...expected, occurredAt: expected.occurredAt ?? event.receivedAt });
      expect(event.provider).toBe(sample.file.startsWith('piopiy') ? 'piopiy' : 'chub');
      // raw keeps the fields exactly as received: typed from JSON, all strings from a form or query.
      expect(event.raw).toEqual(
        encoding === 'json' ? sample.fields : Object.fromEntries(new URLSearchParams(asForm(sample.fields))),
      );
    },
  );
});

describe('the same notification by all three encodings', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(() => receiver.dispose());

  it('is queued once, and every resend is answered duplicate: true', async () => {
    const sample = samples.find(
      (s) => s.file === 'chub-cdr-incoming-answered.json',
    ) as (typeof samples)[number];
    const url = `${receiver.url}/webhook/cdr`;
    const first = (await (await encodings.json(url, sample)).json()) as { id: string; duplicate: boolean };
    expect(first.duplicate).toBe(false);
    for (const send of [encodings.json, encodings.form, encodings.query]) {
      const response = await send(url, sample);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ id: first.id, duplicate: true });
    }
    expect(await queuedEvents(receiver.queue)).toHaveLength(1);
  });

  it('answers duplicates correctly when the copies arrive at the same moment', async () => {
    const sample = samples.find(
      (s) => s.file === 'chub-cdr-incoming-missed.json',
    ) as (typeof samples)[number];
    const url = `${receiver.url}/webhook/cdr`;
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        async () => (await (await encodings.json(url, sample)).json()) as { duplicate: boolean },
      ),
    );
    expect(answers.filter((answer) => !answer.duplicate)).toHaveLength(1);
    const events = (await queuedEvents(receiver.queue)).filter(
      (event) => event.callId === sample.fields.cmiuuid,
    );
    expect(events).toHaveLength(1);
  });
});

describe('phone numbers survive exactly', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(() => receiver.dispose());

  it('keeps 19-digit JSON numbers and leading zeros as strings', async () => {
    const body =
      '{"type":"cdr","cmiuuid":"big-1","status":"answered","from":1234567890123456789,"to":"00441234567890"}';
    const response = await fetch(`${receiver.url}/webhook/cdr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    const [event] = (await queuedEvents(receiver.queue)).filter((e) => e.id === id);
    expect(event?.from).toBe('1234567890123456789');
    expect(event?.to).toBe('00441234567890');
    expect(event?.raw.from).toBe('1234567890123456789');
  });
});
