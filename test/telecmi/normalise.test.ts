import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { CALL_ID_FIELDS, CallEvent, normalise, parseJsonBody } from '../../src/telecmi/index.ts';
import { listSamples, loadSample } from '../helpers/samples.ts';

const RECEIVED = new Date('2025-01-02T03:04:05.678Z');

/** Normalises and fails the test, with the error, when normalising fails. */
function event(fields: Record<string, unknown>, receivedAt = RECEIVED): CallEvent {
  const result = normalise(fields, receivedAt);
  if (!result.ok) throw new Error(`expected ok, got: ${result.error}`);
  return result.event;
}

/** The same notification as a form or query string sends it: every value a string. */
function asStrings(fields: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = String(value);
  return out;
}

/** Everything but `raw`, which holds the fields as received and so differs by encoding. */
function canonical(e: CallEvent): Omit<CallEvent, 'raw'> {
  const { raw: _raw, ...rest } = e;
  return rest;
}

type Expected = Pick<CallEvent, 'provider' | 'kind' | 'status' | 'leg' | 'callId'>;

const CHUB_OUT_A = 'ccd826f9-67a4-4467-acfb-a53093ff5c9d';
const CHUB_OUT_B = '81b3d612-3473-4ac3-ba6e-030ee508036f';
const CHUB_AGENT = 'f4c65be7-4b4d-4d38-8aa9-4392fab50bd8';
const CHUB_IN = '5202a928-07c3-4d32-a1a4-d304c9275971';
const PIOPIY_OUT_A = 'ee6a7a9b-78ea-4693-9e77-5fc085567b2f';
const PIOPIY_OUT_B = 'ade4153c-d8bd-4a62-bd6d-30774e0aa30a';

const chub = (
  kind: Expected['kind'],
  status: string | null,
  leg: Expected['leg'],
  callId: string,
): Expected => ({
  provider: 'chub',
  kind,
  status,
  leg,
  callId,
});
const piopiy = (
  kind: Expected['kind'],
  status: string | null,
  leg: Expected['leg'],
  callId: string,
): Expected => ({
  provider: 'piopiy',
  kind,
  status,
  leg,
  callId,
});

/** One line per sample file: a new sample must be added here. */
const EXPECTED: Record<string, Expected> = {
  'chub-cdr-incoming-answered.json': chub('cdr', 'answered', null, '16132200-57fa-47b5-888d-4ab5b7e631ee'),
  'chub-cdr-incoming-missed.json': chub('cdr', 'missed', null, '4d1f9521-50e5-447d-bf5f-c3292995a727'),
  'chub-cdr-incoming-user-missed.json': chub('cdr', 'missed', 'b', 'e3e26d27-7b42-4679-a8a0-96b7d5e21dc7'),
  'chub-cdr-outgoing-answered-leg-a.json': chub(
    'cdr',
    'answered',
    'a',
    '10ee0eb6-c417-4f5a-b122-bffe28f96eae',
  ),
  'chub-cdr-outgoing-answered-leg-b.json': chub(
    'cdr',
    'answered',
    'b',
    '0da4f02e-6ece-42e4-989b-1e6766b5a81e',
  ),
  'chub-cdr-outgoing-missed-leg-a.json': chub('cdr', 'missed', 'a', '15b58236-734f-4000-a5e8-78284068f5c7'),
  'chub-cdr-outgoing-missed-leg-b.json': chub('cdr', 'missed', 'b', '7686c396-ecdf-436d-9633-94c307f093e7'),
  'chub-event-agent-answered.json': chub('event', 'answered', 'b', CHUB_AGENT),
  'chub-event-agent-hangup.json': chub('event', 'hangup', 'b', CHUB_AGENT),
  'chub-event-agent-started.json': chub('event', 'started', 'b', CHUB_AGENT),
  'chub-event-incoming-answered.json': chub('event', 'answered', null, CHUB_IN),
  'chub-event-incoming-hangup-inferred.json': chub('event', 'hangup', null, CHUB_IN),
  'chub-event-incoming-hangup.json': chub('event', 'hangup', null, '7bf5fbab-5a1a-4cde-a0b6-aba843131950'),
  'chub-event-incoming-waiting.json': chub('event', 'waiting', null, CHUB_IN),
  'chub-event-outgoing-answered-leg-a.json': chub('event', 'answered', 'a', CHUB_OUT_A),
  'chub-event-outgoing-answered-leg-b.json': chub('event', 'answered', 'b', CHUB_OUT_B),
  'chub-event-outgoing-hangup-leg-a.json': chub('event', 'hangup', 'a', CHUB_OUT_A),
  'chub-event-outgoing-hangup-leg-b.json': chub('event', 'hangup', 'b', CHUB_OUT_B),
  'chub-event-outgoing-started-leg-a.json': chub('event', 'started', 'a', CHUB_OUT_A),
  'chub-event-outgoing-started-leg-b-inferred.json': chub('event', 'started', 'b', CHUB_OUT_B),
  'chub-http-flow-request.json': chub('other', null, null, '435e393f-a160-45cf-9691-accb6aa66b73'),
  'piopiy-answerurl-inbound.json': piopiy('other', null, null, '28b9fc5f-b147-47e1-80a4-1edf1339efe1'),
  'piopiy-cdr-inbound-missed-leg-a.json': piopiy(
    'cdr',
    'missed',
    'a',
    '33079756-faed-4a29-8b36-c8ead67e047c',
  ),
  'piopiy-cdr-outbound-missed-leg-a.json': piopiy(
    'cdr',
    'missed',
    'a',
    '1edceb4c-4e2c-402d-81b4-1c2f6fca442d',
  ),
  'piopiy-event-outbound-answered-leg-a.json': piopiy('event', 'out_answered', 'a', PIOPIY_OUT_A),
  'piopiy-event-outbound-answered-leg-b.json': piopiy('event', 'out_bridged', 'b', PIOPIY_OUT_B),
  'piopiy-event-outbound-started-leg-a.json': piopiy('event', 'out_started', 'a', PIOPIY_OUT_A),
  'piopiy-event-outbound-started-leg-b.json': piopiy('event', 'out_started', 'b', PIOPIY_OUT_B),
  'piopiy-event-stream-connected.json': piopiy(
    'event',
    'stream_connected',
    'b',
    'c4ec9bd2-efad-4296-aa5b-eeafa6aeeea0',
  ),
};

describe('normalise: every documented sample', () => {
  const samples = listSamples();

  it('has an expectation for every sample file', () => {
    expect(samples.length).toBeGreaterThan(0);
    expect(Object.keys(EXPECTED).sort()).toEqual(samples);
  });

  it.each(samples)(
    '%s: a valid CallEvent with the expected provider, kind, status, leg and call id',
    (name) => {
      const fields = loadSample(name);
      const e = event(fields);
      expect(v.parse(CallEvent, e)).toEqual(e);
      expect({ provider: e.provider, kind: e.kind, status: e.status, leg: e.leg, callId: e.callId }).toEqual(
        EXPECTED[name],
      );
      expect(e.id).toMatch(/^[0-9a-f]{32}$/);
      expect(e.raw).toBe(fields);
      expect(e.receivedAt).toBe(RECEIVED.toISOString());
    },
  );

  it.each(samples)(
    '%s: as a form or query string (all strings), the same id and canonical fields',
    (name) => {
      const fields = loadSample(name);
      const fromJson = event(fields);
      const fromForm = event(asStrings(fields));
      const fromQuery = event(Object.fromEntries(new URLSearchParams(asStrings(fields))));
      expect(fromForm.id).toBe(fromJson.id);
      expect(canonical(fromForm)).toEqual(canonical(fromJson));
      expect(canonical(fromQuery)).toEqual(canonical(fromJson));
      expect(v.parse(CallEvent, fromForm)).toEqual(fromForm);
    },
  );

  it('gives each sample its own id', () => {
    const ids = samples.map((name) => event(loadSample(name)).id);
    expect(new Set(ids).size).toBe(samples.length);
  });
});

describe('normalise: field by field', () => {
  it('CHUB CDR, incoming answered', () => {
    const e = event(loadSample('chub-cdr-incoming-answered'));
    expect(canonical(e)).toEqual({
      id: e.id,
      provider: 'chub',
      kind: 'cdr',
      status: 'answered',
      direction: 'inbound',
      leg: null,
      callId: '16132200-57fa-47b5-888d-4ab5b7e631ee',
      conversationId: '16132200-57fa-47b5-888d-4ab5b7e631ee',
      appId: '2222223',
      from: '440000000002',
      to: '440000000001',
      virtualNumber: '440000000000',
      callerId: null,
      user: '204_2222223',
      team: 'Sales_2222223',
      requestId: null,
      ivrName: 'salesivr',
      occurredAt: '2021-10-20T09:08:40.615Z',
      startedAt: null,
      answeredAt: null,
      endedAt: null,
      answeredSec: 11,
      waitedSec: null,
      hangupReason: 'recv_bye',
      recording: '1634720915260737218351_2222223.mp3',
      voicemail: null,
      custom: { key: 'value' },
      extraParams: null,
      receivedAt: '2025-01-02T03:04:05.678Z',
    });
  });

  it('CHUB CDR, incoming missed: waited seconds and voicemail', () => {
    const e = event(loadSample('chub-cdr-incoming-missed'));
    expect(e).toMatchObject({
      waitedSec: 127,
      answeredSec: null,
      voicemail: '1634721220656289350027_2222223.mp3',
      recording: null,
      to: null,
      custom: { crm: 'true' },
    });
  });

  it('CHUB CDR, outgoing: virtual_number as a string, call_id joins the legs, extra_params parsed', () => {
    const a = event(loadSample('chub-cdr-outgoing-answered-leg-a'));
    const b = event(loadSample('chub-cdr-outgoing-answered-leg-b'));
    expect(a).toMatchObject({
      virtualNumber: '440000000000',
      to: '442000000000',
      from: null,
      conversationId: 'c4504776-d91e-123b-29a7-56000429abc3',
      requestId: 'c0Sq3mbykoHgVgLfyWTr6cV6HB5Z0Fk4AXpZFkOClSr',
      extraParams: { click2call: 'true' },
      answeredSec: 15,
      recording: null,
    });
    expect(b.conversationId).toBe(a.conversationId);
    expect(b.recording).toBe('16506305548176941220057791_2222223.mp3');
  });

  it('PIOPIY CDR: timings from epoch seconds, duration as answered seconds', () => {
    const e = event(loadSample('piopiy-cdr-inbound-missed-leg-a'));
    expect(e).toMatchObject({
      appId: '2222222',
      from: '440000000001',
      to: '440000000000',
      virtualNumber: null,
      direction: 'inbound',
      conversationId: '33079756-faed-4a29-8b36-c8ead67e047c',
      occurredAt: '2021-09-22T13:24:31.000Z',
      startedAt: '2021-09-22T13:24:28.000Z',
      answeredAt: '2021-09-22T13:48:35.000Z',
      endedAt: '2021-09-22T13:24:33.000Z',
      answeredSec: 0,
      extraParams: { key: 'value' },
      custom: null,
    });
  });

  it('PIOPIY CDR, outbound: caller id and request id', () => {
    const e = event(loadSample('piopiy-cdr-outbound-missed-leg-a'));
    expect(e).toMatchObject({
      from: '19170000000',
      callerId: '19170000000',
      requestId: 'S9U4Mo29GHBfCJ2uHczcY75QQDri7HcAxXYZuktJLxf',
      startedAt: '2021-09-22T10:40:38.000Z',
      endedAt: '2021-09-22T10:41:05.000Z',
      answeredAt: null,
    });
  });

  it('CHUB live event: app id from app_id, numbers that were strings stay strings', () => {
    const e = event(loadSample('chub-event-incoming-answered'));
    expect(e).toMatchObject({
      appId: '2222223',
      from: '440000000000',
      to: '440000000001',
      conversationId: CHUB_IN,
      occurredAt: '2021-10-20T10:10:24.830Z',
      custom: { crm: 'true' },
      startedAt: null,
    });
    expect(event(loadSample('chub-event-incoming-hangup')).appId).toBe('1111113');
  });

  it('CHUB live event, outgoing: from is the callerid', () => {
    const e = event(loadSample('chub-event-outgoing-answered-leg-a'));
    expect(e).toMatchObject({
      from: '442000000000',
      callerId: '442000000000',
      to: '442000000001',
      appId: '2223343',
      direction: 'outbound',
      user: '202_2222223',
      occurredAt: '2022-04-22T13:49:00.436Z',
      extraParams: { click2call: 'true' },
    });
  });

  it('CHUB live events, outgoing: legs join on raw.call_id; conversationId is conversation_uuid (README)', () => {
    const a = event(loadSample('chub-event-outgoing-answered-leg-a'));
    const b = event(loadSample('chub-event-outgoing-answered-leg-b'));
    expect(b.raw.call_id).toBe(a.raw.call_id);
    expect(a.raw.call_id).toBe('e51d5392-d9cf-123b-fe91-3cecefb9bfb6');
    // conversation_uuid is leg a's call id, not the call_id the CDRs get as conversationId.
    expect(a.conversationId).toBe(a.callId);
    expect(b.conversationId).toBe(a.callId);
    expect(a.conversationId).not.toBe(a.raw.call_id);
  });

  it('CHUB agent leg of an incoming call says outbound, as sent', () => {
    expect(event(loadSample('chub-event-agent-started'))).toMatchObject({ direction: 'outbound', leg: 'b' });
  });

  it('PIOPIY live events: vn as the virtual number, stream status', () => {
    expect(event(loadSample('piopiy-event-outbound-answered-leg-a'))).toMatchObject({
      virtualNumber: '440000000000',
      callerId: '440000000000',
      to: '19170000000',
      appId: '2222224',
    });
    expect(event(loadSample('piopiy-event-stream-connected'))).toMatchObject({
      provider: 'piopiy',
      kind: 'event',
      status: 'stream_connected',
      occurredAt: '2024-09-10T13:38:16.000Z',
      from: '440000000000',
    });
  });

  it('call-routing requests are kind other, with no status', () => {
    const flow = event(loadSample('chub-http-flow-request'));
    expect(flow).toMatchObject({ provider: 'chub', kind: 'other', status: null, from: '9191000000000' });
    expect(flow.appId).toBe('1111112');
    expect(flow.occurredAt).toBe(RECEIVED.toISOString()); // it carries no time
    const answer = event(loadSample('piopiy-answerurl-inbound'));
    expect(answer).toMatchObject({ provider: 'piopiy', kind: 'other', status: null, from: '19170000001' });
    expect(answer.occurredAt).toBe('2022-12-09T06:43:54.000Z');
  });
});

describe('normalise: phone numbers and ids survive exactly', () => {
  it('keeps a 19-digit JSON number through parseJsonBody', () => {
    const fields = parseJsonBody('{"cmiuuid":"x","from":12345678901234567890}') as Record<string, unknown>;
    const e = event(fields);
    expect(e.from).toBe('12345678901234567890');
    expect(e.raw.from).toBe('12345678901234567890');
  });

  it('keeps strings exactly: leading zeros, no trimming', () => {
    const e = event({ cmiuuid: ' 0042 ', from: '00441234567890', to: '0', virtual_number: '+44 20' });
    expect(e).toMatchObject({ callId: ' 0042 ', from: '00441234567890', to: '0', virtualNumber: '+44 20' });
  });

  it('turns a numeric call id into its string', () => {
    expect(event({ cmiuuid: 123456789 }).callId).toBe('123456789');
  });

  it('treats empty strings as absent', () => {
    const e = event({ cmiuuid: 'x', from: '', callerid: '0123', to: '', user: '' });
    expect(e).toMatchObject({ from: '0123', to: null, user: null });
  });
});

describe('normalise: custom and extra_params', () => {
  it('keeps a string that is not JSON as the raw string', () => {
    const custom = "{ 'Name': 'Akil', 'ID':8915726 }";
    expect(event({ cmiuuid: 'x', custom }).custom).toBe(custom);
  });

  it('keeps an already structured value as it is', () => {
    const extra = { click2call: true };
    expect(event({ cmiuuid: 'x', extra_params: extra }).extraParams).toBe(extra);
  });

  it('keeps JSON nested deeper than a body may be as the raw string', () => {
    const custom = `{"n":${'['.repeat(40)}${']'.repeat(40)}}`;
    expect(event({ cmiuuid: 'x', custom }).custom).toBe(custom);
  });

  it('parses JSON losslessly: a long number inside keeps its digits', () => {
    expect(event({ cmiuuid: 'x', custom: '{"id":12345678901234567890}' }).custom).toEqual({
      id: '12345678901234567890',
    });
  });
});

describe('normalise: statuses, kinds and providers', () => {
  it('lower-cases the status; the PIOPIY prefix marks the provider', () => {
    const e = event({ cmiuuid: 'x', status: 'STREAM_DISCONNECTED', leg: 'B' });
    expect(e).toMatchObject({ provider: 'piopiy', kind: 'event', status: 'stream_disconnected', leg: 'b' });
  });

  it('passes an unknown status through', () => {
    const e = event({ cmiuuid: 'x', type: 'event', status: 'Transferred', something_new: 1 });
    expect(e).toMatchObject({ provider: 'chub', kind: 'event', status: 'transferred' });
    expect(e.raw.something_new).toBe(1);
  });

  it('reads type in any case; any other type is other', () => {
    expect(event({ cmiuuid: 'x', type: 'CDR' }).kind).toBe('cdr');
    expect(event({ cmiuuid: 'x', type: 'dtmf', status: 'in_answered' }).kind).toBe('other');
  });

  it('infers a PIOPIY CDR from its timings and a live event from its status', () => {
    expect(event({ cmiuuid: 'x', duration: '12', balance: '1.0' }).kind).toBe('cdr');
    expect(event({ cmiuuid: 'x', vn: '123', status: 'hangup' }).kind).toBe('event');
    expect(event({ cmiuuid: 'x', action: 'inbound', status: 'in_answered' }).kind).toBe('other');
  });

  it('infers nothing for CHUB, which always says its type', () => {
    expect(event({ cmiuuid: 'x', status: 'answered' })).toMatchObject({ provider: 'chub', kind: 'other' });
    expect(event({ cmiuuid: 'x', duration: 5 })).toMatchObject({ provider: 'chub', kind: 'other' });
  });

  it('accepts the older call id fields', () => {
    expect(event({ cmiuid: 'old' }).callId).toBe('old');
    expect(event({ cmuuid: 'dtmf' }).callId).toBe('dtmf');
    expect(event({ cmiuuid: '', cmiuid: 'old' }).callId).toBe('old');
  });
});

describe('normalise: call id', () => {
  it.each([{}, { cmiuuid: '' }, { cmiuuid: null }, { cmiuuid: { nested: 1 } }, { callId: 'x' }])(
    'fails without a call id: %j',
    (fields) => {
      const result = normalise(fields, RECEIVED);
      expect(result).toEqual({ ok: false, error: 'no call id: expected one of cmiuuid, cmiuid, cmuuid' });
      if (!result.ok) for (const field of CALL_ID_FIELDS) expect(result.error).toContain(field);
    },
  );
});

describe('normalise: event id', () => {
  const base = loadSample('chub-event-outgoing-answered-leg-a');

  it('gives a resend the same id, whenever it arrives', () => {
    const first = event(base, RECEIVED);
    const again = event({ ...base }, new Date(RECEIVED.getTime() + 15 * 60_000));
    expect(again.id).toBe(first.id);
    expect(again.receivedAt).not.toBe(first.receivedAt);
    expect(again.occurredAt).toBe(first.occurredAt);
  });

  it('is the same in every release: a resend that crosses an upgrade is still a duplicate', () => {
    // sha256 of "provider|callId|kind|status|leg", first 32 hex digits; computed once, kept here.
    expect(event({ cmiuuid: 'abc-123', type: 'cdr', status: 'answered' }).id).toBe(
      'afd73ed8c53e757840c75325918b0384',
    );
  });

  it('ignores fields that do not identify the notification, and status case', () => {
    const first = event(base);
    expect(event({ ...base, custom: 'changed', time: 1 }).id).toBe(first.id);
    expect(event({ ...base, status: 'ANSWERED' }).id).toBe(first.id);
  });

  it('differs by status, leg, call id and kind', () => {
    const ids = new Set([
      event(base).id,
      event({ ...base, status: 'hangup' }).id,
      event({ ...base, leg: 'b' }).id,
      event({ ...base, cmiuuid: 'other' }).id,
      event({ ...base, type: 'cdr' }).id,
    ]);
    expect(ids.size).toBe(5);
  });
});

describe('normalise: odd input', () => {
  it('never throws, and still returns a valid event', () => {
    const fields: Record<string, unknown> = {
      cmiuuid: 'x',
      from: { nested: true },
      to: [1, 2],
      callerid: true,
      appid: null,
      status: { odd: 1 },
      leg: 'c',
      direction: 7,
      time: 'soon',
      start_time: 1e20,
      answer_time: '',
      end_time: '1632317073',
      answeredsec: 'eleven',
      waitedsec: '12.5',
      filename: ['a.mp3'],
      custom: '',
      extra_params: 42,
    };
    const e = event(fields);
    expect(v.parse(CallEvent, e)).toEqual(e);
    expect(e).toMatchObject({
      provider: 'piopiy',
      from: 'true',
      to: null,
      callerId: 'true',
      appId: null,
      status: null,
      leg: null,
      direction: '7',
      occurredAt: RECEIVED.toISOString(),
      startedAt: null,
      answeredAt: null,
      endedAt: '2021-09-22T13:24:33.000Z',
      answeredSec: null,
      waitedSec: 12.5,
      recording: null,
      custom: null,
      extraParams: 42,
    });
  });

  it('takes time as epoch milliseconds, number or numeric string', () => {
    expect(event({ cmiuuid: 'x', time: '1634720920615' }).occurredAt).toBe('2021-10-20T09:08:40.615Z');
    expect(event({ cmiuuid: 'x', time: 1634720920615 }).occurredAt).toBe('2021-10-20T09:08:40.615Z');
    expect(event({ cmiuuid: 'x', time: '12345678901234567890' }).occurredAt).toBe(RECEIVED.toISOString());
  });
});
