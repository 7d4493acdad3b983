import { hash } from 'node:crypto';
import type { CallEvent, EventKind, Provider } from './call-event.ts';
import { parseJsonBody } from './parse-json.ts';

export type NormaliseResult = { ok: true; event: CallEvent } | { ok: false; error: string };

/** Where the call id may be: `cmiuuid`, or the older `cmiuid`, or `cmuuid` (a PIOPIY DTMF request). */
export const CALL_ID_FIELDS = ['cmiuuid', 'cmiuid', 'cmuuid'] as const;

const NO_CALL_ID = `no call id: expected one of ${CALL_ID_FIELDS.join(', ')}`;

/** Fields that only PIOPIY (the voice API) sends; CHUB (the call centre) sends none of them. */
const PIOPIY_FIELDS = [
  'call_rate',
  'balance',
  'start_time',
  'end_time',
  'answer_time',
  'vn',
  'ws_status',
  'action',
] as const;

/** PIOPIY live-event statuses are prefixed (`in_answered`, `out_bridged`, `STREAM_DISCONNECTED`). */
const PIOPIY_STATUS = /^(in_|out_|stream_)/i;

/** Fields of a PIOPIY CDR: PIOPIY sends no `type`, so a CDR is told apart by what it carries. */
const PIOPIY_CDR_FIELDS = ['start_time', 'end_time', 'duration', 'call_rate'] as const;

/** A plain decimal number, as a form or query string carries a JSON number (`"11"`, `"1634720920615"`). */
const DECIMAL = /^-?\d+(\.\d+)?$/;

type Fields = Record<string, unknown>;

/**
 * Turns one TeleCMI notification into the canonical {@link CallEvent}. `fields` come from a JSON body
 * (numbers, booleans, strings, maybe nested values) or from a form or query string (all strings);
 * both give the same event, the same id included. Never throws: odd values become null, unknown
 * fields and statuses pass through (in `raw`). Fails only when there is no call id.
 */
export function normalise(fields: Fields, receivedAt: Date): NormaliseResult {
  const callId = asText(fields.cmiuuid) ?? asText(fields.cmiuid) ?? asText(fields.cmuuid);
  if (callId === null) return { ok: false, error: NO_CALL_ID };

  const status = lower(fields.status);
  const provider = providerOf(fields, status);
  const kind = kindOf(fields, provider, status);
  const legText = lower(fields.leg);
  const leg = legText === 'a' || legText === 'b' ? legText : null;
  const receivedIso = receivedAt.toISOString();

  return {
    ok: true,
    event: {
      id: eventId(provider, callId, kind, status, leg),
      provider,
      kind,
      status,
      direction: lower(fields.direction),
      leg,
      callId,
      conversationId: asText(fields.conversation_uuid) ?? asText(fields.call_id),
      appId: asText(fields.appid) ?? asText(fields.app_id),
      from: asText(fields.from) ?? asText(fields.callerid),
      to: asText(fields.to),
      virtualNumber: asText(fields.virtual_number) ?? asText(fields.vn),
      callerId: asText(fields.callerid),
      user: asText(fields.user),
      team: asText(fields.team),
      requestId: asText(fields.request_id),
      ivrName: asText(fields.ivr_name),
      occurredAt: epochMsToIso(asNumber(fields.time)) ?? receivedIso,
      startedAt: epochSecToIso(fields.start_time),
      answeredAt: epochSecToIso(fields.answer_time),
      endedAt: epochSecToIso(fields.end_time),
      answeredSec: asNumber(fields.answeredsec) ?? asNumber(fields.duration),
      waitedSec: asNumber(fields.waitedsec),
      hangupReason: asText(fields.hangup_reason),
      recording: asText(fields.filename),
      voicemail: asText(fields.voicename),
      custom: parseMaybeJson(fields.custom),
      extraParams: parseMaybeJson(fields.extra_params),
      receivedAt: receivedIso,
      raw: fields,
    },
  };
}

/**
 * A phone number, id or name as text. A string is kept exactly (no trim: a leading zero or a
 * 15+ digit number must survive); a JSON number becomes its digits (the JSON parser already kept
 * the unsafe ones as strings); a boolean its word. Empty, absent or nested values are null.
 */
function asText(value: unknown): string | null {
  switch (typeof value) {
    case 'string':
      return value === '' ? null : value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return null;
  }
}

/** Status, direction and leg: TeleCMI's case varies (`STREAM_DISCONNECTED`), so compare in lower case. */
function lower(value: unknown): string | null {
  const text = asText(value);
  return text === null ? null : text.toLowerCase();
}

/** A JSON number, or the same number as a form or query string sends it; anything else is null. */
function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && DECIMAL.test(value)) return Number(value);
  return null;
}

/** Null when absent or out of range (`toISOString` would throw on an invalid date). */
function epochMsToIso(ms: number | null): string | null {
  if (ms === null) return null;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** PIOPIY's `start_time`, `answer_time` and `end_time` count seconds, not milliseconds. */
function epochSecToIso(value: unknown): string | null {
  const seconds = asNumber(value);
  return seconds === null ? null : epochMsToIso(seconds * 1000);
}

/**
 * `custom` and `extra_params` are strings that usually hold JSON, and sometimes do not
 * (`"{ 'Name': 'Akil', 'ID':8915726 }"`): parsed when possible, else kept as the raw string. A value
 * that is already structured (a JSON body may nest it) is kept as it is; an empty one is "not sent".
 * Parsed losslessly, like the body, so a long number inside keeps its digits; JSON nested deeper
 * than the body may be is kept as the string too.
 */
function parseMaybeJson(value: unknown): unknown {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') return value;
  try {
    return parseJsonBody(value);
  } catch {
    return value;
  }
}

/** Absent, null and empty are all "not sent": a form or query string cannot tell them apart. */
function has(fields: Fields, key: string): boolean {
  const value = fields[key];
  return value !== undefined && value !== null && value !== '';
}

function hasAny(fields: Fields, keys: readonly string[]): boolean {
  for (const key of keys) if (has(fields, key)) return true;
  return false;
}

/** Neither product names itself: PIOPIY is recognised by the fields and statuses only it sends. */
function providerOf(fields: Fields, status: string | null): Provider {
  if (hasAny(fields, PIOPIY_FIELDS)) return 'piopiy';
  return status !== null && PIOPIY_STATUS.test(status) ? 'piopiy' : 'chub';
}

/**
 * CHUB says `type: "cdr"` or `"event"`. PIOPIY says nothing: a CDR carries timings and a rate, a
 * live event a status. The rest (call-routing requests: CHUB's HTTP flow, PIOPIY's answer URL,
 * which carries `action`) and any other `type` is 'other'.
 */
function kindOf(fields: Fields, provider: Provider, status: string | null): EventKind {
  const type = lower(fields.type);
  if (type !== null) return type === 'cdr' || type === 'event' ? type : 'other';
  if (provider !== 'piopiy') return 'other';
  if (hasAny(fields, PIOPIY_CDR_FIELDS)) return 'cdr';
  return status !== null && !has(fields, 'action') ? 'event' : 'other';
}

/**
 * Stable across resends (PIOPIY retries a CDR up to three times) and encodings (JSON, form, query
 * string): it hashes only what identifies the notification, never the time it was received.
 */
function eventId(
  provider: Provider,
  callId: string,
  kind: EventKind,
  status: string | null,
  leg: string | null,
): string {
  // One-shot `hash`: the same digest as `createHash`, without building a Hash object per call.
  return hash('sha256', `${provider}|${callId}|${kind}|${status}|${leg}`, 'hex').slice(0, 32);
}
