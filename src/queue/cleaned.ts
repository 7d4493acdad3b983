import type { Redis } from 'ioredis';

/**
 * What was removed from a queue by hand (the queue dashboard's "clean"), kept so that the ledger
 * can tell a delivery someone cleaned from one that went missing. A clean of a whole state (every
 * delivered or every dead job) is kept as its time: each job of that state that had finished by
 * then may be gone. A job removed alone is kept by its id. One hash per queue, field `*` for the
 * time of the last whole-state clean and one field per job removed alone (its time).
 */
export function cleanedKey(prefix: string, queueName: string): string {
  return `${prefix}:cleaned:${queueName}`;
}

const WHOLE_STATE = '*';

/** How long the record is kept after its last clean: as long as the ledger can look back. */
const KEEP_SEC = 400 * 24 * 3600;

export async function recordStateCleaned(redis: Redis, prefix: string, queueName: string, at = Date.now()) {
  const key = cleanedKey(prefix, queueName);
  await redis.multi().hset(key, WHOLE_STATE, String(at)).expire(key, KEEP_SEC).exec();
}

export async function recordJobCleaned(
  redis: Redis,
  prefix: string,
  queueName: string,
  jobId: string,
  at = Date.now(),
) {
  const key = cleanedKey(prefix, queueName);
  await redis.multi().hset(key, jobId, String(at)).expire(key, KEEP_SEC).exec();
}

export interface Cleans {
  /** Jobs finished before this time (ms) may have been cleaned; 0 when no state was cleaned. */
  stateCleanedAt: number;
  /** Ids of jobs removed one by one. */
  jobs: ReadonlySet<string>;
}

export async function readCleans(redis: Redis, prefix: string, queueName: string): Promise<Cleans> {
  const fields = await redis.hgetall(cleanedKey(prefix, queueName));
  const { [WHOLE_STATE]: stateCleanedAt, ...jobs } = fields;
  return { stateCleanedAt: Number(stateCleanedAt ?? 0), jobs: new Set(Object.keys(jobs)) };
}
