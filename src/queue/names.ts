import type { Redis } from 'ioredis';
import type { ForwarderConfig } from '../config/index.ts';

/** Queue names. The Redis key prefix (`redis.prefix`) keeps installations apart. */
export const INGEST_QUEUE = 'ingest';

/**
 * The key that marks an event id as stored (its value: the id of the ingest job that holds it) for
 * the de-duplication window.
 */
export function seenKey(prefix: string, eventId: string): string {
  return `${prefix}:${INGEST_QUEUE}:seen:${eventId}`;
}

const DESTINATION_QUEUE = 'deliver.';

export function destinationQueueName(destination: string): string {
  return `${DESTINATION_QUEUE}${destination}`;
}

/**
 * The destinations that have a queue in Redis but are not in the config: one renamed or removed
 * leaves its queue behind. Found by the `meta` key BullMQ keeps per queue (a scan of the keys).
 */
export async function destinationsLeftBehind(
  redis: Pick<Redis, 'scan'>,
  config: Pick<ForwarderConfig, 'redis' | 'destinations'>,
): Promise<string[]> {
  const configured = new Set(config.destinations.map((destination) => destination.name));
  const head = `${config.redis.prefix}:${DESTINATION_QUEUE}`;
  const names = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${head}*:meta`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) names.add(key.slice(head.length, -':meta'.length));
  } while (cursor !== '0');
  return [...names].filter((name) => !configured.has(name)).sort();
}

/**
 * The job id of one delivery: the same event to the same destination always gets the same id,
 * so a fan-out that runs twice finds the job already there and adds nothing.
 */
export function deliveryJobId(eventId: string, destination: string): string {
  return `${eventId}.${destination}`;
}

/**
 * The events of one call, by a call id or conversation id (`callId`, `conversationId`): what
 * `npm run trace -- --call` reads.
 */
export function callIndexKey(prefix: string, id: string): string {
  return `${prefix}:calls:${id}`;
}
