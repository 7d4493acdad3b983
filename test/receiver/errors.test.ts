import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.ts';

describe('requests that are refused', () => {
  let receiver: TestReceiver;
  let url: string;
  beforeAll(async () => {
    receiver = await startTestReceiver('receiver:\n  maxBodyBytes: 1024\n');
    url = `${receiver.url}/webhook/cdr`;
  });
  afterAll(() => receiver.dispose());

  const post = (body: string, contentType = 'application/json') =>
    fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('malformed JSON: 400 naming the problem', async () => {
    const response = await post('{"cmiuuid": "x",');
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/^malformed JSON: /);
    expect(error.length).toBeGreaterThan('malformed JSON: '.length);
  });

  it('no call id: 422 naming the accepted fields', async () => {
    const response = await post('{"type":"cdr","status":"answered"}');
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: string; expected: string[] };
    expect(body.error).toContain('cmiuuid');
    expect(body.expected).toEqual(['cmiuuid', 'cmiuid', 'cmuuid']);
  });

  it('a GET with no fields: 422', async () => {
    expect((await fetch(url)).status).toBe(422);
  });

  it('a body that is not a single object: 422', async () => {
    for (const body of ['[{"cmiuuid":"x"}]', '"cmiuuid"', '42', 'null']) {
      const response = await post(body);
      expect(response.status, body).toBe(422);
      expect(((await response.json()) as { error: string }).error).toMatch(/single JSON object/);
    }
  });

  it('a body nested deeper than 32 levels: 422', async () => {
    const response = await post(`{"cmiuuid":"deep","n":${'['.repeat(40)}${']'.repeat(40)}}`);
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: string }).error).toBe('JSON nested deeper than 32 levels');
    const shallow = await post(
      `{"cmiuuid":"shallow","n":${'['.repeat(30)}${']'.repeat(30)},"s":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`,
    );
    expect(shallow.status).toBe(200);
  });

  it('a query string or headers over 16 KiB: 431', async () => {
    expect((await fetch(`${url}?cmiuuid=q&pad=${'x'.repeat(17 * 1024)}`)).status).toBe(431);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'x-pad': 'x'.repeat(17 * 1024) },
      body: '{}',
    });
    expect(response.status).toBe(431);
  });

  it('an empty body: 400', async () => {
    expect((await post('')).status).toBe(400);
  });

  it('an unsupported content type: 415 naming the supported ones', async () => {
    const response = await post('<xml/>', 'application/xml');
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: string }).error).toContain('application/json');
  });

  it('a body over maxBodyBytes: 413', async () => {
    const response = await post(JSON.stringify({ cmiuuid: 'x', padding: 'p'.repeat(2048) }));
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: string }).error).toContain('1024');
  });

  it('another path: 404', async () => {
    const response = await fetch(`${receiver.url}/webhook/other`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toContain('/webhook/cdr');
  });

  it('another method: 405 with Allow', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(url, { method, body: '{}' });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toContain('POST');
      expect(response.headers.get('allow')).toContain('GET');
    }
  });

  it('never answers with a stack trace, and nothing refused is queued', async () => {
    const before = await receiver.queue.count();
    const response = await post('{"cmiuuid": ');
    expect(await response.text()).not.toMatch(/at .*\.ts:\d+/);
    expect(await receiver.queue.count()).toBe(before);
  });

  it('health endpoints answer', async () => {
    expect(await (await fetch(`${receiver.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${receiver.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', redis: 'up', spooled: 0 });
  });

  it('a trailing slash reaches the same endpoint', async () => {
    const response = await fetch(`${url}/?cmiuuid=slash-1&type=event&status=waiting`);
    expect(response.status).toBe(200);
  });
});
