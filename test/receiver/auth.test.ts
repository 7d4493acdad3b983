import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuedEvents, startTestReceiver, type TestReceiver } from '../helpers/receiver.ts';

const TOKEN = 'tok_0123456789abcdef';
const notification = (callId: string) => JSON.stringify({ type: 'cdr', cmiuuid: callId, status: 'answered' });

describe('receiver.token', () => {
  let receiver: TestReceiver;
  let base: string;
  beforeAll(async () => {
    receiver = await startTestReceiver(`receiver:\n  token: ${TOKEN}\n`);
    base = `${receiver.url}/webhook/cdr`;
  });
  afterAll(() => receiver.dispose());

  const post = (url: string, callId: string, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: notification(callId),
    });

  it('is accepted as ?token=', async () => {
    expect((await post(`${base}?token=${TOKEN}`, 'q-1')).status).toBe(200);
  });

  it('is accepted as the last path segment', async () => {
    expect((await post(`${base}/${TOKEN}`, 'p-1')).status).toBe(200);
  });

  it('is accepted as a Bearer token', async () => {
    expect((await post(base, 'h-1', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('is accepted on GET, and never kept with the notification', async () => {
    const response = await fetch(`${base}?token=${TOKEN}&cmiuuid=g-1&type=event&status=waiting`);
    expect(response.status).toBe(200);
    const [event] = (await queuedEvents(receiver.queue)).filter((e) => e.callId === 'g-1');
    expect(event?.raw).toEqual({ cmiuuid: 'g-1', type: 'event', status: 'waiting' });
    const jobs = await receiver.queue.getJobs(['waiting']);
    expect(JSON.stringify(jobs.map((job) => job.data))).not.toContain(TOKEN);
  });

  it('refuses a missing or wrong token with 401, and queues nothing', async () => {
    const before = await receiver.queue.count();
    const refused = [
      await post(base, 'w-1'),
      await post(`${base}?token=wrong-token-0123456789`, 'w-2'),
      await post(`${base}/wrong-token-0123456789`, 'w-3'),
      await post(base, 'w-4', { authorization: 'Bearer nope' }),
      await post(`${base}?token=${TOKEN.slice(0, -1)}`, 'w-5'),
      await fetch(`${base}?cmiuuid=w-6`),
    ];
    for (const response of refused) {
      expect(response.status).toBe(401);
      expect(await response.text()).not.toContain(TOKEN);
    }
    expect(await receiver.queue.count()).toBe(before);
  });
});

describe('receiver.previousToken', () => {
  it('accepts the old token during a rotation, and only the two', async () => {
    const receiver = await startTestReceiver(
      `receiver:\n  token: ${TOKEN}\n  previousToken: old_token_0123456789\n`,
    );
    try {
      const base = `${receiver.url}/webhook/cdr`;
      expect((await fetch(`${base}/${TOKEN}?cmiuuid=r-1&type=event&status=waiting`)).status).toBe(200);
      expect((await fetch(`${base}/old_token_0123456789?cmiuuid=r-2&type=event&status=waiting`)).status).toBe(
        200,
      );
      expect(
        (await fetch(`${base}/another_token_0123456789?cmiuuid=r-3&type=event&status=waiting`)).status,
      ).toBe(401);
    } finally {
      await receiver.dispose();
    }
  });
});

describe('receiver.allowIps', () => {
  const started: TestReceiver[] = [];
  afterAll(() => Promise.all(started.map((r) => r.dispose())));
  const start = async (yaml: string) => {
    const receiver = await startTestReceiver(yaml);
    started.push(receiver);
    return receiver;
  };
  const post = (receiver: TestReceiver, callId: string, headers: Record<string, string> = {}) =>
    fetch(`${receiver.url}/webhook/cdr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: notification(callId),
    });

  it('refuses a peer outside the list with 403 and queues nothing', async () => {
    const receiver = await start('receiver:\n  allowIps: [10.0.0.0/8, "2001:db8::/32"]\n');
    const response = await post(receiver, 'ip-1');
    expect(response.status).toBe(403);
    expect(await receiver.queue.count()).toBe(0);
  });

  it('accepts a peer inside the list', async () => {
    const receiver = await start('receiver:\n  allowIps: [10.0.0.0/8, 127.0.0.0/8]\n');
    expect((await post(receiver, 'ip-2')).status).toBe(200);
  });

  it('ignores X-Forwarded-For unless trustProxy is on', async () => {
    const receiver = await start('receiver:\n  allowIps: [203.0.113.0/24]\n');
    expect((await post(receiver, 'ip-3', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
  });

  it('with trustProxy, takes the address the proxy saw (rightmost entry)', async () => {
    const receiver = await start('receiver:\n  allowIps: [203.0.113.0/24]\n  trustProxy: true\n');
    expect((await post(receiver, 'ip-4', { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' })).status).toBe(
      200,
    );
    // A client cannot sneak in by writing an allowed address first: the proxy appends the real one.
    expect((await post(receiver, 'ip-5', { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' })).status).toBe(
      403,
    );
  });
});
