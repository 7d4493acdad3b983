import * as v from 'valibot';

/**
 * The canonical call event: what every TeleCMI notification (CHUB or PIOPIY, CDR or live event,
 * JSON, form or query string) is normalised into before it is queued. Destinations only ever see
 * this shape; `raw` keeps the fields exactly as received for anything the canonical fields miss.
 *
 * Phone numbers and ids are strings, always: TeleCMI sends them as JSON numbers in some payloads,
 * and a 15+ digit number or a leading zero must never pass through a JS number.
 */
const nullableString = v.nullable(v.string());
const isoTimestamp = v.pipe(v.string(), v.isoTimestamp());

export const Provider = v.picklist(['chub', 'piopiy']);
export const EventKind = v.picklist(['cdr', 'event', 'other']);
export const Leg = v.nullable(v.picklist(['a', 'b']));

/** `custom` and `extra_params`: parsed when the string is JSON, kept as the raw string when not. */
export const FreeFormValue = v.nullable(v.unknown());

export const CallEvent = v.object({
  /** Stable: a resend of the same notification gets the same id (provider, call id, kind, status, leg). */
  id: v.string(),
  provider: Provider,
  kind: EventKind,
  /** Lower case; unknown statuses pass through. Null for requests that carry none (call-routing requests). */
  status: nullableString,
  /** `inbound` or `outbound` as TeleCMI says it (the agent leg of an incoming CHUB call says `outbound`). */
  direction: nullableString,
  leg: Leg,
  /** `cmiuuid`, or the older `cmiuid` / `cmuuid`. */
  callId: v.string(),
  /** `conversation_uuid`, else `call_id`: joins the legs and records of one call. */
  conversationId: nullableString,
  /** `appid` (CDRs, PIOPIY) or `app_id` (CHUB live events). */
  appId: nullableString,
  /** `from`, else `callerid`. */
  from: nullableString,
  to: nullableString,
  /** `virtual_number`, else PIOPIY's `vn`. */
  virtualNumber: nullableString,
  callerId: nullableString,
  user: nullableString,
  team: nullableString,
  requestId: nullableString,
  ivrName: nullableString,
  /** From `time` (epoch ms); falls back to `receivedAt` when the payload carries no time. */
  occurredAt: isoTimestamp,
  /** PIOPIY's `start_time`, `answer_time`, `end_time` (epoch seconds). */
  startedAt: v.nullable(isoTimestamp),
  answeredAt: v.nullable(isoTimestamp),
  endedAt: v.nullable(isoTimestamp),
  /** `answeredsec`, else PIOPIY's `duration`. */
  answeredSec: v.nullable(v.number()),
  waitedSec: v.nullable(v.number()),
  hangupReason: nullableString,
  /** Recording file name (`filename`); fetch it from TeleCMI's play API with your app secret. */
  recording: nullableString,
  /** Voicemail file name (`voicename`). */
  voicemail: nullableString,
  custom: FreeFormValue,
  extraParams: FreeFormValue,
  receivedAt: isoTimestamp,
  /** The fields exactly as received (numbers too long for a JS number are kept as their digits, as strings). */
  raw: v.record(v.string(), v.unknown()),
});

export type CallEvent = v.InferOutput<typeof CallEvent>;
export type Provider = v.InferOutput<typeof Provider>;
export type EventKind = v.InferOutput<typeof EventKind>;
