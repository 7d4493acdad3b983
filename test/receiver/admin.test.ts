import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCleans } from '../../src/queue/cleaned.ts';
import { startReceiver } from '../../src/receiver/server.ts';
import {
  silentLogger,
  startTestReceiver,
  type TestReceiver,
  testConfig,
  uniquePrefix,
} from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL, waitFor } from '../helpers/redis-server.ts';

const PASSWORD = 'board-password-123';
const DESTINATIONS = `destinations:
  - {name: crm, type: http, url: "http://127.0.0.1:9/hook"}
  - {name: archive, type: file, path: /tmp/cdrf-admin-test}
`;

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

interface QueuesAnswer {
  queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[];
}

describe('queue dashboard with a password', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver(`admin: {user: ops, password: ${PASSWORD}}\n${DESTINATIONS}`);
  });
  afterAll(() => receiver.dispose());

  it('answers 401 with a basic-auth challenge without credentials', async () => {
    for (const path of ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues']) {
      const response = await fetch(`${receiver.url}${path}`);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
      // The refusal is a page of the dashboard too: not to be framed or sniffed.
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('answers 401 to a wrong password or a wrong user', async () => {
    for (const headers of [basic('ops', 'wrong-password'), basic('admin', PASSWORD), basic('', '')]) {
      const response = await fetch(`${receiver.url}/admin/queues/api/queues`, { headers });
      expect(response.status).toBe(401);
    }
  });

  it('serves the page and lists the ingest queue and every destination queue', async () => {
    const headers = basic('ops', PASSWORD);
    for (const path of ['/admin/queues', '/admin/queues/']) {
      const page = await fetch(`${receiver.url}${path}`, { headers });
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      // Not to be framed by another site.
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await page.text()).toContain('/admin/queues/');
    }

    const api = await fetch(`${receiver.url}/admin/queues/api/queues`, { headers });
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as QueuesAnswer;
    expect(queues.map((queue) => queue.name).sort()).toEqual(['deliver.archive', 'deliver.crm', 'ingest']);
    // Not read-only: retry and clean are offered.
    for (const queue of queues) expect(queue).toMatchObject({ readOnlyMode: false, allowRetries: true });
  });

  it('serves the static assets the page loads', async () => {
    const headers = basic('ops', PASSWORD);
    const page = await (await fetch(`${receiver.url}/admin/queues`, { headers })).text();
    // Relative to `<base href="/admin/queues/">`.
    expect(page).toContain('<base href="/admin/queues/"');
    const assets = [...page.matchAll(/(?:src|href)="(static\/[^"]+\.(?:js|css))"/g)].map((match) => match[1]);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const response = await fetch(`${receiver.url}/admin/queues/${asset}`, { headers });
      expect(response.status, asset).toBe(200);
    }
  });

  it('retries a dead delivery and cleans finished ones from the API (not read-only)', async () => {
    const headers = basic('ops', PASSWORD);
    const { prefix, url } = receiver.config.redis;
    const connection = new Redis(url, { maxRetriesPerRequest: null });
    const queue = new Queue('deliver.crm', { connection, prefix });
    let fail = true;
    const worker = new Worker(
      'deliver.crm',
      async () => {
        if (fail) throw new Error('HTTP 500: down');
      },
      { connection, prefix },
    );
    try {
      await queue.add('cdr', { id: 'x' }, { jobId: 'dead-1', attempts: 1 });
      await waitFor(async () => (await queue.getFailedCount()) === 1);

      fail = false;
      const retry = await fetch(`${receiver.url}/admin/queues/api/queues/deliver.crm/retry/failed`, {
        method: 'PUT',
        headers,
      });
      expect(retry.status).toBe(200);
      expect(await retry.json()).toMatchObject({ retried: 1 });
      await waitFor(async () => (await queue.getCompletedCount()) === 1);
      expect(await queue.getFailedCount()).toBe(0);

      // "Clean all" keeps jobs younger than 5 s; cleaning one job removes it at once.
      const clean = await fetch(`${receiver.url}/admin/queues/api/queues/deliver.crm/dead-1/clean`, {
        method: 'PUT',
        headers,
      });
      expect(clean.status).toBeLessThan(300);
      expect(await queue.getCompletedCount()).toBe(0);
      // Recorded for the ledger, which counts it as cleaned rather than missing; a clean of a whole
      // state is recorded by its time.
      expect((await readCleans(connection, prefix, 'deliver.crm')).jobs).toEqual(new Set(['dead-1']));
      const before = Date.now();
      const cleanAll = await fetch(`${receiver.url}/admin/queues/api/queues/deliver.crm/clean/completed`, {
        method: 'PUT',
        headers,
      });
      expect(cleanAll.status).toBe(200);
      expect((await readCleans(connection, prefix, 'deliver.crm')).stateCleanedAt).toBeGreaterThanOrEqual(
        before,
      );
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });

  it('refuses what would lose or alter an acknowledged record: empty, obliterate, add, edit, clean a pending job', async () => {
    const headers = { ...basic('ops', PASSWORD), 'content-type': 'application/json' };
    const { prefix, url } = receiver.config.redis;
    const connection = new Redis(url);
    const queue = new Queue('deliver.archive', { connection, prefix });
    const api = `${receiver.url}/admin/queues/api/queues/deliver.archive`;
    try {
      // No worker runs here: the delivery waits.
      await queue.add('cdr', { id: 'kept' }, { jobId: 'waiting-1' });
      // And a fan-out that failed for good (taken by hand here, as a fan-out worker would).
      const ingest = new Queue('ingest', { connection, prefix });
      await ingest.add('notifications', { notifications: [] }, { jobId: 'failed-fanout' });
      const fanoutConnection = connection.duplicate({ maxRetriesPerRequest: null });
      const fanout = new Worker('ingest', null, { connection: fanoutConnection, prefix });
      const taken = await fanout.getNextJob('test-token');
      await taken?.moveToFailed(new Error('Redis refused the delivery jobs'), 'test-token');
      await fanout.close();
      fanoutConnection.disconnect();
      expect(await ingest.getJobState('failed-fanout')).toBe('failed');
      const attempts: [string, string, unknown?][] = [
        ['PUT', `${api}/empty`],
        ['PUT', `${api}/obliterate`],
        ['POST', `${api}/add`, { name: 'cdr', data: { id: 'forged' }, options: {} }],
        ['PATCH', `${api}/waiting-1/update-data`, { data: { id: 'altered' } }],
        ['PUT', `${api}/clean/wait`],
        ['PUT', `${api}/clean/delayed`],
        ['PUT', `${api}/waiting-1/clean`],
        // A failed fan-out: its notifications reached no destination.
        ['PUT', `${receiver.url}/admin/queues/api/queues/ingest/clean/failed`],
        ['PUT', `${receiver.url}/admin/queues/api/queues/ingest/failed-fanout/clean`],
        // A delivery put off to the year 3000 is neither sent nor dead: out of sight.
        ['PATCH', `${api}/waiting-1/delay`, { delay: 30_000_000_000_000 }],
        // Limits that the config sets, and the workers apply: the dashboard may not override them.
        ['PUT', `${api}/rate-limit`, { max: 1, duration: 86_400_000 }],
        ['PUT', `${api}/concurrency`, { concurrency: 1 }],
      ];
      for (const [method, target, body] of attempts) {
        const response = await fetch(target, {
          method,
          headers,
          body: body ? JSON.stringify(body) : undefined,
        });
        expect(response.status, `${method} ${target}`).toBe(403);
        expect(((await response.json()) as { error: string }).error).toMatch(/^refused: /);
      }
      expect(await queue.getWaitingCount()).toBe(1);
      expect((await queue.getJob('waiting-1'))?.data).toEqual({ id: 'kept' });
      expect(await ingest.getJobState('failed-fanout')).toBe('failed');
      await ingest.obliterate({ force: true });
      await ingest.close();
      // Pausing holds deliveries without losing any: allowed, and undone.
      const pause = await fetch(`${api}/pause`, { method: 'PUT', headers });
      expect(pause.status).toBe(200);
      expect(await queue.isPaused()).toBe(true);
      await fetch(`${api}/resume`, { method: 'PUT', headers });
      expect(await queue.isPaused()).toBe(false);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('leaves the webhook and /metrics without basic auth', async () => {
    expect((await fetch(`${receiver.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${receiver.url}/healthz`)).status).toBe(200);
  });
});

describe('queue dashboard without a password', () => {
  it('is off: 404 with a message saying how to turn it on', async () => {
    const receiver = await startTestReceiver(DESTINATIONS);
    try {
      for (const path of ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues']) {
        const response = await fetch(`${receiver.url}${path}`);
        expect(response.status, path).toBe(404);
        expect(((await response.json()) as { error: string }).error).toMatch(/admin\.password/);
      }
    } finally {
      await receiver.dispose();
    }
  });

  it('an empty password is no password', async () => {
    const receiver = await startTestReceiver(`admin: {password: ""}\n${DESTINATIONS}`);
    try {
      expect((await fetch(`${receiver.url}/admin/queues/api/queues`)).status).toBe(404);
    } finally {
      await receiver.dispose();
    }
  });

  it('is open with allowAnonymous: true', async () => {
    const receiver = await startTestReceiver(`admin: {allowAnonymous: true}\n${DESTINATIONS}`);
    try {
      expect((await fetch(`${receiver.url}/admin/queues`)).status).toBe(200);
      const api = await fetch(`${receiver.url}/admin/queues/api/queues`);
      expect(api.status).toBe(200);
      const { queues } = (await api.json()) as QueuesAnswer;
      expect(queues.map((queue) => queue.name).sort()).toEqual(['deliver.archive', 'deliver.crm', 'ingest']);
    } finally {
      await receiver.dispose();
    }
  });

  it('a password wins over allowAnonymous', async () => {
    const receiver = await startTestReceiver(`admin: {password: ${PASSWORD}, allowAnonymous: true}\n`);
    try {
      expect((await fetch(`${receiver.url}/admin/queues`)).status).toBe(401);
      expect(
        (await fetch(`${receiver.url}/admin/queues`, { headers: basic('admin', PASSWORD) })).status,
      ).toBe(200);
    } finally {
      await receiver.dispose();
    }
  });
});

describe('queue dashboard and a destination no longer in the config', () => {
  it('shows the queue it left behind, to look at and clean', async () => {
    const prefix = uniquePrefix('left');
    const redis = new Redis(REDIS_URL);
    const old = new Queue('deliver.oldcrm', { connection: redis, prefix });
    await old.add('cdr', { id: 'stranded' }, { jobId: 'stranded.oldcrm' });
    const config = testConfig(
      `admin: {user: ops, password: ${PASSWORD}}\n${DESTINATIONS}`,
      REDIS_URL,
      prefix,
    );
    const receiver = await startReceiver(config, silentLogger);
    try {
      const names = async () => {
        const api = await fetch(`http://127.0.0.1:${receiver.port}/admin/queues/api/queues`, {
          headers: basic('ops', PASSWORD),
        });
        return ((await api.json()) as QueuesAnswer).queues.map((queue) => queue.name).sort();
      };
      // Found off the start-up path: shown a moment after.
      await waitFor(async () => (await names()).includes('deliver.oldcrm'));
      expect(await names()).toEqual(['deliver.archive', 'deliver.crm', 'deliver.oldcrm', 'ingest']);
    } finally {
      await receiver.close();
      await old.close();
      redis.disconnect();
      await deletePrefix(REDIS_URL, prefix);
    }
  });
});
