import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The tests use a real Redis and a real PostgreSQL: without them every file would fail on its own,
 * with a connection error each. Say once what is missing and how to start it.
 */
async function checkServices(): Promise<void> {
  const missing: string[] = [];
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The connection's own error (ECONNREFUSED...) says more than the "Connection is closed" that follows.
  let cause: Error | undefined;
  redis.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    missing.push(
      `Redis at ${REDIS_URL} (TEST_REDIS_URL): ${(cause ?? (error as Error)).message.replace(/\.$/, '')}. ` +
        'Start one: docker compose up -d redis, or redis-server --daemonize yes --port 6379',
    );
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    missing.push(
      `PostgreSQL at ${PG_URL} (TEST_DATABASE_URL): ${(error as Error).message.replace(/\.$/, '')}. ` +
        'Start one with a database "test" and trust auth for 127.0.0.1; bash .ci/run does it on Debian',
    );
  } finally {
    await client.end().catch(() => {});
  }
  if (missing.length > 0) {
    throw new Error(`the tests need real services, and cannot reach:\n  - ${missing.join('\n  - ')}`);
  }
}

/**
 * Every temporary folder the tests make (spools, archives, configs, the data of the Redis and
 * PostgreSQL servers some tests start) goes under one folder, removed when the run ends: test
 * workers and the processes they start inherit TMPDIR, which `os.tmpdir()` reads.
 */
export default async function setup(): Promise<() => void> {
  await checkServices();
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'cdrf-test-'));
  // The PostgreSQL helper runs its server as the postgres user, which must reach its folder in here.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
