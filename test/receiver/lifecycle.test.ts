import { mkdtempSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnEntry, writeTempConfig } from '../helpers/process.ts';
import { queuedEvents, startTestReceiver, uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, freePort, OwnRedis, REDIS_URL, waitFor } from '../helpers/redis-server.ts';

describe('/readyz follows Redis', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('answers 503 while Redis is stopped and 200 again once it is back', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const receiver = await startTestReceiver('', redis.url);
    cleanups.push(() => receiver.close());

    expect((await fetch(`${receiver.url}/readyz`)).status).toBe(200);
    await redis.stop();
    const down = await fetch(`${receiver.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'degraded', redis: 'down', spooled: 0 });
    expect((await fetch(`${receiver.url}/healthz`)).status).toBe(200);

    await redis.start();
    await waitFor(async () => (await fetch(`${receiver.url}/readyz`)).status === 200, 15_000);
    expect(await (await fetch(`${receiver.url}/readyz`)).json()).toEqual({
      status: 'ok',
      redis: 'up',
      spooled: 0,
    });
  });
});

describe('the receiver process', () => {
  it('refuses to start without Redis: one line with the URL and what to do, exit code 1', async () => {
    const port = await freePort();
    const config = writeTempConfig(`redis:\n  url: redis://127.0.0.1:${port}\nreceiver:\n  port: 0\n`);
    const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config });
    expect(await run.exited).toBe(1);
    const lines = run.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`redis://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(lines[0]).toContain('docker compose up -d redis');
  });

  it('refuses to start on a port in use: one line naming the port and the setting, exit code 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const prefix = uniquePrefix('port');
      const config = writeTempConfig(
        `redis: {url: "${REDIS_URL}", prefix: ${prefix}}\nreceiver: {port: ${port}, host: 127.0.0.1}\n`,
      );
      const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config, LOG_LEVEL: 'warn' });
      expect(await run.exited).toBe(1);
      expect(run.output().trim()).toBe(
        `cdr-forwarder: port ${port} (127.0.0.1) is in use, by another program or another cdr-forwarder: set receiver.port (PORT where the config does not set it) to a free port`,
      );
      await deletePrefix(REDIS_URL, prefix);
    } finally {
      taken.close();
    }
  });

  it('refuses to start with a broken config: file, key path and expectation, no stack trace, exit code 2', async () => {
    const config = writeTempConfig('receiver:\n  port: eighty\ndestinations:\n  - name: a\n    type: file\n');
    const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config });
    expect(await run.exited).toBe(2);
    const output = run.output();
    expect(output).toContain(config);
    expect(output).toContain('receiver.port: expected a whole number from 0 to 65535');
    expect(output).toContain('destinations[0].path: missing');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('names its config file and Redis (password hidden) at start, warns of Redis settings that could lose queued notifications, and starts', async () => {
    const redis = await OwnRedis.start([
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'allkeys-lru',
      '--requirepass',
      'redis-pass-0451',
    ]);
    const config = writeTempConfig(
      `redis: {url: "${redis.url}"}\nreceiver: {port: ${await freePort()}, host: 127.0.0.1, spoolDir: ${mkdtempSync(join(tmpdir(), 'cdrf-spool-'))}}\n`,
    );
    const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config });
    try {
      await waitFor(() => run.output().includes('receiver listening'), 20_000);
      await waitFor(() => run.output().includes('set appendonly yes'), 5_000);
      const lines = run
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; setting?: string; msg: string });
      expect(lines.find((line) => line.msg === 'config loaded')).toMatchObject({
        level: 30,
        config,
        redis: { url: `redis://:***@127.0.0.1:${redis.port}`, prefix: 'cdrf' },
      });
      expect(run.output()).not.toContain('redis-pass-0451');
      const warnings = lines.filter((line) => line.setting);
      expect(warnings.map(({ level, setting }) => [level, setting])).toEqual([
        [40, 'maxmemory-policy'],
        [40, 'appendonly'],
      ]);
      expect(warnings[0]?.msg).toContain('set maxmemory-policy noeviction');
      expect(warnings[1]?.msg).toContain('set appendonly yes');
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
      await redis.stop();
    }
  });

  it('on SIGTERM stops accepting, finishes the requests in flight and exits 0', async () => {
    const port = await freePort();
    const prefix = uniquePrefix('shutdown');
    const config = writeTempConfig(
      `redis:\n  url: ${REDIS_URL}\n  prefix: ${prefix}\nreceiver:\n  port: ${port}\n  host: 127.0.0.1\n  spoolDir: ${mkdtempSync(join(tmpdir(), 'cdrf-spool-'))}\n`,
    );
    const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: config });
    try {
      await waitFor(() => run.output().includes('receiver listening'), 20_000);

      // Two requests whose bodies are still arriving when the signal comes.
      const inFlight = [1, 2].map((n) => {
        const body = JSON.stringify({ type: 'cdr', cmiuuid: `inflight-${n}`, status: 'answered' });
        const req = request({
          port,
          host: '127.0.0.1',
          path: '/webhook/cdr',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        });
        const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
          req.on('response', (res) => {
            let text = '';
            res.on('data', (chunk) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          });
          req.on('error', reject);
        });
        req.write(body.slice(0, 10));
        return { req, rest: body.slice(10), answered };
      });
      await new Promise((resolve) => setTimeout(resolve, 200));

      run.child.kill('SIGTERM');
      await waitFor(() => run.output().includes('shutting down'), 5_000);
      // New connections are refused once shutdown has begun.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

      for (const { req, rest } of inFlight) req.end(rest);
      const answers = await Promise.all(inFlight.map((r) => r.answered));
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      expect(await run.exited).toBe(0);

      const redis = new Redis(REDIS_URL);
      const queue = new Queue('ingest', { connection: redis, prefix });
      const callIds = (await queuedEvents(queue)).map((event) => event.callId).sort();
      expect(callIds).toEqual(['inflight-1', 'inflight-2']);
      await queue.close();
      redis.disconnect();
    } finally {
      run.child.kill('SIGKILL');
      await deletePrefix(REDIS_URL, prefix);
    }
  });
});
