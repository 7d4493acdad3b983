import type { ChainableCommander, Redis } from 'ioredis';
import type { CallEvent } from '../telecmi/index.ts';
import { callIndexKey } from './names.ts';

/**
 * An index from call to events, so that an operator who has only the call's id (from TeleCMI's
 * dashboard or the CRM) can find its events. The fan-out writes it, off the receiver's path, with
 * one command per ingest job. Each id of an event (`callId`, and `conversationId` which joins the
 * legs of one conversation) gets a sorted set of event ids by time received.
 */

// KEYS: one per (id, event); ARGV: the TTL, then score and event id per key.
const INDEX = `
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2 * i], ARGV[2 * i + 1])
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS`;

/**
 * Queues the index entries of `events` on `commands` (a pipeline or MULTI): one EVAL in all. Each
 * call's entry lasts `ttlSec` after its last event: as long as its deliveries are kept
 * (`retention.deliveredDays`), since an index older than its deliveries finds nothing.
 */
export function addCallIndex(
  commands: ChainableCommander,
  prefix: string,
  events: readonly CallEvent[],
  ttlSec: number,
): void {
  const keys: string[] = [];
  const args: string[] = [String(ttlSec)];
  for (const event of events) {
    const at = Date.parse(event.receivedAt) || 0;
    for (const id of new Set([event.callId, event.conversationId])) {
      if (!id) continue;
      keys.push(callIndexKey(prefix, id));
      args.push(String(at), event.id);
    }
  }
  if (keys.length > 0) commands.eval(INDEX, keys.length, ...keys, ...args);
}

/** The ids of the events of a call, oldest first; empty when none is known. */
export function eventsOfCall(redis: Pick<Redis, 'zrange'>, prefix: string, id: string): Promise<string[]> {
  return redis.zrange(callIndexKey(prefix, id), '0', '-1');
}
