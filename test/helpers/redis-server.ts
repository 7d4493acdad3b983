import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '../../src/queue/redis.ts';

/** The shared Redis the suite runs against (`.ci/run` starts it). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A private redis-server on its own port, for tests that stop and restart Redis. */
export class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'cdrf-redis-'));
  #process: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly extraArgs: string[] = ['--save', '', '--appendonly', 'no'],
  ) {}

  /** With the password of `--requirepass`, when it was started with one. */
  get url(): string {
    const at = this.extraArgs.indexOf('--requirepass');
    const password = at >= 0 ? this.extraArgs[at + 1] : undefined;
    return `redis://${password ? `:${password}@` : ''}127.0.0.1:${this.port}`;
  }

  static async start(extraArgs?: string[]): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), extraArgs);
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.#process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...this.extraArgs],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(async () => {
      const probe = new Redis(this.url, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 10_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A check that throws (Redis still reconnecting, say) counts as not yet.
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** Deletes every key under a test's prefix. */
export const deletePrefix = deleteKeysWithPrefix;
