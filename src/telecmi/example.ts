import { randomUUID } from 'node:crypto';
import type { CallEvent } from './call-event.ts';
import { normalise } from './normalise.ts';

/**
 * A call record to try a destination with (`npm run send-example`): an answered incoming call, in
 * the shape of TeleCMI's CHUB CDR, with made-up numbers and a call id that says what it is
 * (`cdrf-example-…`), made into the canonical event as the receiver would.
 */
export function exampleEvent(now = new Date()): CallEvent {
  const callId = `cdrf-example-${randomUUID()}`;
  const result = normalise(
    {
      type: 'cdr',
      status: 'answered',
      direction: 'inbound',
      cmiuuid: callId,
      conversation_uuid: callId,
      appid: 1000001,
      from: 440000000002,
      to: 440000000001,
      virtual_number: 440000000000,
      user: '101_1000001',
      team: 'Sales_1000001',
      time: now.getTime() - 60_000,
      answeredsec: 42,
      hangup_reason: 'recv_bye',
      record: true,
      filename: `${callId}.mp3`,
      custom: '{"example":true}',
    },
    now,
  );
  if (!result.ok) throw new Error(`the example call record does not normalise: ${result.error}`);
  return result.event;
}
