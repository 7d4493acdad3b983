import type { CallEvent } from '../../telecmi/index.ts';

/** A PostgreSQL column type this destination writes. */
export type ColumnType = 'text' | 'timestamptz' | 'double precision' | 'jsonb';

/** One value of a row, as sent to PostgreSQL (timestamps as ISO text, JSON as its text). */
export type RowValue = string | number | null;

/** One row: a value per entry of {@link COLUMNS}, in the same order. */
export type Row = RowValue[];

interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly value: (event: CallEvent) => RowValue;
}

/** `custom`, `extra_params` and `raw` as JSON text; null (not JSON `null`) when absent. */
function json(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(value) ?? null;
}

/**
 * Every column the destination writes, in order: the canonical fields, snake_case. `user` is
 * `user_id` (a reserved word needs quoting in every query); `from` and `to` are `from_number` and
 * `to_number`. `inserted_at` is not here: PostgreSQL fills it (`DEFAULT now()`).
 */
const SPECS: readonly ColumnSpec[] = [
  { name: 'id', type: 'text', value: (e) => e.id },
  { name: 'provider', type: 'text', value: (e) => e.provider },
  { name: 'kind', type: 'text', value: (e) => e.kind },
  { name: 'status', type: 'text', value: (e) => e.status },
  { name: 'direction', type: 'text', value: (e) => e.direction },
  { name: 'leg', type: 'text', value: (e) => e.leg },
  { name: 'call_id', type: 'text', value: (e) => e.callId },
  { name: 'conversation_id', type: 'text', value: (e) => e.conversationId },
  { name: 'app_id', type: 'text', value: (e) => e.appId },
  { name: 'from_number', type: 'text', value: (e) => e.from },
  { name: 'to_number', type: 'text', value: (e) => e.to },
  { name: 'virtual_number', type: 'text', value: (e) => e.virtualNumber },
  { name: 'caller_id', type: 'text', value: (e) => e.callerId },
  { name: 'user_id', type: 'text', value: (e) => e.user },
  { name: 'team', type: 'text', value: (e) => e.team },
  { name: 'request_id', type: 'text', value: (e) => e.requestId },
  { name: 'ivr_name', type: 'text', value: (e) => e.ivrName },
  { name: 'occurred_at', type: 'timestamptz', value: (e) => e.occurredAt },
  { name: 'started_at', type: 'timestamptz', value: (e) => e.startedAt },
  { name: 'answered_at', type: 'timestamptz', value: (e) => e.answeredAt },
  { name: 'ended_at', type: 'timestamptz', value: (e) => e.endedAt },
  { name: 'received_at', type: 'timestamptz', value: (e) => e.receivedAt },
  { name: 'answered_sec', type: 'double precision', value: (e) => e.answeredSec },
  { name: 'waited_sec', type: 'double precision', value: (e) => e.waitedSec },
  { name: 'hangup_reason', type: 'text', value: (e) => e.hangupReason },
  { name: 'recording', type: 'text', value: (e) => e.recording },
  { name: 'voicemail', type: 'text', value: (e) => e.voicemail },
  { name: 'custom', type: 'jsonb', value: (e) => json(e.custom) },
  { name: 'extra_params', type: 'jsonb', value: (e) => json(e.extraParams) },
  { name: 'raw', type: 'jsonb', value: (e) => json(e.raw) },
];

/** The columns written, in the order of {@link eventToRow}'s values. */
export const COLUMNS: readonly { readonly name: string; readonly type: ColumnType }[] = SPECS.map(
  ({ name, type }) => ({ name, type }),
);

/**
 * One event as one row, a value per column of {@link COLUMNS}: e.g. for
 * `INSERT INTO t (<COLUMNS names>) VALUES ($1, ..., $30)`. Throws only if `custom`,
 * `extra_params` or `raw` cannot be serialised as JSON (a BigInt, a cycle).
 */
export function eventToRow(event: CallEvent): Row {
  return SPECS.map((column) => column.value(event));
}
