import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import * as v from 'valibot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import {
  classifyResponse,
  linkLocalGuard,
  parseRetryAfter,
  requestError,
} from '../../src/destinations/http/endpoint.ts';
import { httpDestination } from '../../src/destinations/http/index.ts';
import { renderTemplate } from '../../src/destinations/template.ts';
import { type DeliveryContext, DeliveryError, type Destination } from '../../src/destinations/types.ts';
import { failure } from '../helpers/delivery.ts';
import { sampleEvent } from '../helpers/samples.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Responder = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A real HTTP server on a free port that records what it receives and answers as `respond` says. */
class TestServer {
  readonly server: Server;
  readonly received: Received[] = [];
  connections = 0;
  respond: Responder = (_req, res) => res.writeHead(204).end();

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        this.respond(req, res, body);
      });
    });
    this.server.on('connection', () => this.connections++);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.received.length = 0;
    this.connections = 0;
    this.respond = (_req, res) => res.writeHead(204).end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const TOKEN = 'Bearer s3cr3t-t0ken-value';
const context: DeliveryContext = { attempt: 1, logger: pino({ level: 'silent' }) };

function httpConfig(options: Record<string, unknown>): DestinationConfigOf<'http'> {
  const config = v.parse(DestinationConfig, { name: 'crm', type: 'http', ...options });
  if (config.type !== 'http') throw new Error('expected an http config');
  return config;
}

const server = new TestServer();
let baseUrl = '';
const opened: Destination[] = [];
const event = sampleEvent('chub-cdr-incoming-answered');

function open(options: Record<string, unknown> = {}): Destination {
  const destination = httpDestination.create(
    httpConfig({ url: `${baseUrl}/hook`, ...options }),
    context.logger,
  );
  opened.push(destination);
  return destination;
}

beforeAll(async () => {
  baseUrl = await server.start();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  server.reset();
});

afterAll(() => server.stop());

describe('http destination: the request', () => {
  it('posts the canonical event as JSON with Standard Webhooks headers', async () => {
    const destination = open();
    const before = Math.floor(Date.now() / 1000);
    await destination.deliver(event, context);

    expect(server.received).toHaveLength(1);
    const [request] = server.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/hook');
    expect(request?.body).toBe(JSON.stringify(event));
    expect(JSON.parse(request?.body ?? '')).toEqual(event);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toBe('cdr-forwarder');
    expect(request?.headers['webhook-id']).toBe(event.id);
    const timestamp = Number(request?.headers['webhook-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(request?.headers['webhook-signature']).toBeUndefined();
  });

  it('sends the same webhook-id when the same event is delivered again', async () => {
    const destination = open();
    await destination.deliver(event, context);
    await destination.deliver(event, { ...context, attempt: 2 });
    const ids = server.received.map((request) => request.headers['webhook-id']);
    expect(ids).toEqual([event.id, event.id]);
    const other = sampleEvent('chub-cdr-incoming-missed');
    await destination.deliver(other, context);
    expect(server.received[2]?.headers['webhook-id']).toBe(other.id);
    expect(other.id).not.toBe(event.id);
  });

  it('signs with signingSecret so that the standardwebhooks library verifies the request', async () => {
    const destination = open({ signingSecret: SECRET });
    await destination.deliver(event, context);
    await destination.deliver(event, context);
    for (const request of server.received) {
      const signature = request.headers['webhook-signature'];
      expect(signature).toMatch(/^v1,/);
      const headers = {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(signature),
      };
      expect(new Webhook(SECRET).verify(request.body, headers)).toEqual(JSON.parse(request.body));
      // Another secret does not verify, nor does a changed body.
      expect(() => new Webhook('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA').verify(request.body, headers)).toThrow();
      expect(() => new Webhook(SECRET).verify(`${request.body} `, headers)).toThrow();
    }
  });

  it('signs with both secrets while one is rotated out, so either verifies the request', async () => {
    const NEW_SECRET = 'whsec_TkVXU0lHTklOR1NFQ1JFVDI=';
    const destination = open({ signingSecret: NEW_SECRET, previousSigningSecret: SECRET });
    await destination.deliver(event, context);
    const [request] = server.received;
    const signature = String(request?.headers['webhook-signature']);
    expect(signature.split(' ')).toHaveLength(2);
    const headers = {
      'webhook-id': String(request?.headers['webhook-id']),
      'webhook-timestamp': String(request?.headers['webhook-timestamp']),
      'webhook-signature': signature,
    };
    const body = request?.body ?? '';
    expect(new Webhook(NEW_SECRET).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(SECRET).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA').verify(body, headers)).toThrow();
    // Once the previous secret is removed, only the new one verifies.
    server.reset();
    await open({ signingSecret: NEW_SECRET }).deliver(event, context);
    const [after] = server.received;
    const afterHeaders = {
      'webhook-id': String(after?.headers['webhook-id']),
      'webhook-timestamp': String(after?.headers['webhook-timestamp']),
      'webhook-signature': String(after?.headers['webhook-signature']),
    };
    expect(new Webhook(NEW_SECRET).verify(after?.body ?? '', afterHeaders)).toBeTruthy();
    expect(() => new Webhook(SECRET).verify(after?.body ?? '', afterHeaders)).toThrow();
  });

  it("posts to the URL's path and query string, as configured", async () => {
    const destination = open({ url: `${baseUrl}/api/v2/calls?tenant=acme&key=a%2Fb#ignored` });
    await destination.deliver(event, context);
    expect(server.received.map((request) => request.url)).toEqual(['/api/v2/calls?tenant=acme&key=a%2Fb']);
  });

  it('fills {{field}} placeholders in the path and query from each event, percent-encoded', async () => {
    const destination = open({
      method: 'PUT',
      url: `${baseUrl}/api/calls/{{id}}?status={{status}}&agent={{ user }}#x`,
    });
    await destination.deliver(event, context);
    await destination.deliver({ ...event, id: 'a/b?c', user: 'Ann & Bob/2 #1' }, context);
    expect(server.received.map((request) => request.url)).toEqual([
      `/api/calls/${event.id}?status=answered&agent=204_2222223`,
      '/api/calls/a%2Fb%3Fc?status=answered&agent=Ann%20%26%20Bob%2F2%20%231',
    ]);
    expect(server.received.map((request) => request.method)).toEqual(['PUT', 'PUT']);
  });

  it('fails a delivery for good, sending nothing, when a field would step out of its path segment', async () => {
    const destination = open({ url: `${baseUrl}/api/calls/{{callId}}/notes` });
    for (const callId of ['..', '.']) {
      const error = await failure(destination.deliver({ ...event, callId }, context));
      expect(error).toMatchObject({
        retryable: false,
        message: `url: {{callId}} is "${callId}", which would step out of its place in the path`,
      });
    }
    expect(server.received).toEqual([]);
    // Dots among other characters stay where they are.
    await destination.deliver({ ...event, callId: '...' }, context);
    await destination.deliver({ ...event, callId: 'a/../../admin' }, context);
    expect(server.received.map((request) => request.url)).toEqual([
      '/api/calls/.../notes',
      '/api/calls/a%2F..%2F..%2Fadmin/notes',
    ]);
  });

  it('fails a delivery for good, sending nothing, when the URL names a field the event lacks', async () => {
    expect(event.leg).toBeNull();
    const destination = open({ url: `${baseUrl}/api/calls/{{callId}}/legs/{{leg}}` });
    const error = await failure(destination.deliver(event, context));
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ retryable: false, message: 'url: {{leg}} has no value in this event' });
    expect(server.received).toEqual([]);
  });

  it('counts deliveredStatuses as delivered (a 409 for a duplicate), and only those', async () => {
    server.respond = (_req, res) => res.writeHead(409).end('{"error":"call already logged"}');
    const destination = open({ deliveredStatuses: [409] });
    await expect(destination.deliver(event, context)).resolves.toEqual({ status: 409 });
    server.respond = (_req, res) => res.writeHead(422).end('{"error":"bad"}');
    const error = await failure(destination.deliver(event, context));
    expect(error).toMatchObject({ retryable: false, status: 422 });
    // Without the option a 409 is a refusal for good, like any other 4xx.
    server.respond = (_req, res) => res.writeHead(409).end('{"error":"call already logged"}');
    expect(await failure(open().deliver(event, context))).toMatchObject({ retryable: false, status: 409 });
  });

  it('fills {{field}} placeholders in header values per event (an Idempotency-Key)', async () => {
    const destination = open({
      headers: { 'Idempotency-Key': '{{id}}', 'X-Call': 'call {{callId}} by {{user}}' },
    });
    await destination.deliver(event, context);
    await destination.deliver({ ...event, id: 'other-id', user: 'evil\r\nX-Injected: 1' }, context);
    const [first, second] = server.received;
    expect(first?.headers['idempotency-key']).toBe(event.id);
    expect(first?.headers['x-call']).toBe(`call ${event.callId} by 204_2222223`);
    expect(second?.headers['idempotency-key']).toBe('other-id');
    // A field cannot add a header of its own: CR and LF become spaces.
    expect(second?.headers['x-call']).toBe(`call ${event.callId} by evil  X-Injected: 1`);
    expect(second?.headers['x-injected']).toBeUndefined();
  });

  it('leaves out a header whose fields are all empty, instead of sending it empty', async () => {
    const destination = open({
      headers: { 'Idempotency-Key': '{{requestId}}', 'X-Agent': 'agent {{user}}' },
    });
    await destination.deliver({ ...event, user: null }, context);
    const [request] = server.received;
    // CHUB's incoming calls have no request_id: no key at all rather than the same empty one for all.
    expect(request?.headers).not.toHaveProperty('idempotency-key');
    // Literal text around the field: sent (trimmed, as HTTP does anyway).
    expect(request?.headers['x-agent']).toBe('agent');
  });

  it('percent-encodes (UTF-8) what a header cannot carry as it is: any character beyond ASCII, and "%"', async () => {
    const destination = open({ headers: { 'X-Caller-Name': '{{custom.name}}' } });
    const name = 'José राम 100%';
    await destination.deliver({ ...event, custom: { name } }, context);
    const header = server.received[0]?.headers['x-caller-name'];
    expect(header).toBe('Jos%C3%A9 %E0%A4%B0%E0%A4%BE%E0%A4%AE 100%25');
    expect(decodeURIComponent(header as string)).toBe(name);
  });

  it('sends the configured headers and method', async () => {
    const destination = open({
      method: 'PUT',
      headers: { Authorization: TOKEN, 'X-Tenant': 'acme', 'User-Agent': 'my-agent' },
    });
    await destination.deliver(event, context);
    const [request] = server.received;
    expect(request?.method).toBe('PUT');
    expect(request?.headers.authorization).toBe(TOKEN);
    expect(request?.headers['x-tenant']).toBe('acme');
    expect(request?.headers['user-agent']).toBe('my-agent');
    expect(request?.headers['content-type']).toBe('application/json');
  });

  it('posts the rendered template instead of the event', async () => {
    const template = {
      event: '{{id}}',
      caller: '{{from}}',
      seconds: '{{answeredSec}}',
      note: 'Call {{callId}} by {{user}} ({{raw.filename}})',
      crm: '{{custom.key}}',
      missing: '{{voicemail}}',
    };
    const destination = open({ template, signingSecret: SECRET });
    await destination.deliver(event, context);
    const [request] = server.received;
    expect(JSON.parse(request?.body ?? '')).toEqual(renderTemplate(template, event));
    expect(JSON.parse(request?.body ?? '')).toEqual({
      event: event.id,
      caller: '440000000002',
      seconds: 11,
      note: `Call ${event.callId} by 204_2222223 (1634720915260737218351_2222223.mp3)`,
      crm: 'value',
      missing: null,
    });
    // The signature covers the body actually sent.
    const headers = request?.headers as Record<string, string>;
    expect(() => new Webhook(SECRET).verify(request?.body ?? '', headers)).not.toThrow();
  });

  it('reuses one keep-alive connection for several deliveries', async () => {
    const destination = open();
    for (let i = 0; i < 5; i++) await destination.deliver(event, context);
    expect(server.received).toHaveLength(5);
    expect(server.connections).toBe(1);
  });

  it('reuses the connection after error responses too (their bodies are read)', async () => {
    server.respond = (_req, res) => res.writeHead(500).end('x'.repeat(20_000));
    const destination = open();
    for (let i = 0; i < 3; i++) await failure(destination.deliver(event, context));
    expect(server.received).toHaveLength(3);
    expect(server.connections).toBe(1);
  });
});

describe('http destination: outcomes', () => {
  it.each([500, 502, 503, 504, 408, 425, 429])('HTTP %i is retryable', async (status) => {
    server.respond = (_req, res) => res.writeHead(status).end('try later');
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(status);
    expect(error.message).toBe(`HTTP ${status}: try later`);
    expect(error.retryAfterMs).toBeUndefined();
  });

  it.each([429, 503])('HTTP %i with Retry-After: 7 waits 7 s', async (status) => {
    server.respond = (_req, res) => res.writeHead(status, { 'retry-after': '7' }).end();
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7000);
    expect(error.message).toMatch(new RegExp(`^HTTP ${status}`));
  });

  it('reads an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    server.respond = (_req, res) => res.writeHead(429, { 'retry-after': at }).end('slow down');
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBeGreaterThan(27_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('ignores Retry-After on other statuses', async () => {
    server.respond = (_req, res) => res.writeHead(500, { 'retry-after': '7' }).end();
    const error = await failure(open().deliver(event, context));
    expect(error.retryAfterMs).toBeUndefined();
  });

  it.each([400, 404, 410, 401, 422, 301])('HTTP %i is permanent', async (status) => {
    server.respond = (_req, res) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"bad request"}');
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(status);
    expect(error.message).toBe(`HTTP ${status}: {"error":"bad request"}`);
    expect(error.message).toMatch(/^HTTP (\d{3})/);
  });

  it('quotes at most 1024 bytes of a large error body', async () => {
    const body = `${'é'.repeat(1000)}${'x'.repeat(3000)}`; // 5000 bytes, multi-byte at the cut
    server.respond = (_req, res) => res.writeHead(400).end(body);
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(false);
    expect(error.message.startsWith('HTTP 400: éé')).toBe(true);
    const excerpt = error.message.slice('HTTP 400: '.length);
    expect(Buffer.byteLength(excerpt)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(excerpt)).toBeGreaterThan(1000);
    expect(excerpt).not.toContain('\uFFFD');
  });

  it('never quotes header values or the signing secret, even when echoed', async () => {
    server.respond = (req, res) =>
      res.writeHead(403).end(`denied for ${req.headers.authorization} and ${SECRET}`);
    const error = await failure(
      open({ headers: { Authorization: TOKEN }, signingSecret: SECRET }).deliver(event, context),
    );
    expect(error.message).toBe('HTTP 403: denied for [redacted] and [redacted]');
  });

  it('never quotes the credential of a header either, echoed without its scheme or decoded', async () => {
    const apiKey = 'CRMKEY-ZZZ-987654';
    server.respond = (req, res) =>
      res.writeHead(401).end(`invalid api key: ${String(req.headers.authorization).replace(/^Bearer /, '')}`);
    const bearer = await failure(
      open({ headers: { Authorization: `Bearer ${apiKey}` } }).deliver(event, context),
    );
    expect(bearer.message).toBe('HTTP 401: invalid api key: [redacted]');
    // Basic: the password as the endpoint decodes it.
    server.respond = (req, res) => {
      const decoded = Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString();
      res.writeHead(401).end(`no user ${decoded.split(':')[0]} with password ${decoded.split(':')[1]}`);
    };
    const basic = `Basic ${Buffer.from('crm-user:s3cret-password').toString('base64')}`;
    const error = await failure(open({ headers: { Authorization: basic } }).deliver(event, context));
    expect(error.message).toBe('HTTP 401: no user crm-user with password [redacted]');
  });

  it('connects by name as usual (the link-local guard lets other addresses through)', async () => {
    const byName = open({ url: baseUrl.replace('127.0.0.1', 'localhost') + '/hook' });
    await byName.deliver(event, context);
    expect(server.received).toHaveLength(1);
  });

  it('a refused connection is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await failure(open({ url: `http://127.0.0.1:${port}/hook` }).deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.status).toBeUndefined();
    expect(error.message).toBe('connection refused (ECONNREFUSED)');
  });

  it('a server that never answers times out within timeoutMs, retryable', async () => {
    server.respond = () => {}; // never answers
    const started = Date.now();
    const error = await failure(open({ timeoutMs: 300 }).deliver(event, context));
    const elapsed = Date.now() - started;
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('timed out after 300 ms');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
  });

  it('a server that stops in the middle of an error body: the status counts, within timeoutMs', async () => {
    server.respond = (_req, res) => {
      res.writeHead(500, { 'content-length': '100' });
      res.write('partial');
    };
    const started = Date.now();
    const error = await failure(open({ timeoutMs: 300 }).deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('HTTP 500: partial');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a connection closed without an answer is retryable', async () => {
    server.respond = (req) => req.socket.destroy();
    const error = await failure(open().deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
  });
});

describe('linkLocalGuard', () => {
  /** A resolver that answers `addresses` for any name, as dns.lookup does (one, or all). */
  const answering =
    (addresses: string[]) =>
    (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
      options.all
        ? callback(
            null,
            addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
          )
        : callback(null, addresses[0], addresses[0]?.includes(':') ? 6 : 4);
  const lookup = (addresses: string[], options: { all?: boolean }) =>
    new Promise<unknown>((resolve, reject) =>
      linkLocalGuard(answering(addresses) as never)('crm.example', options as never, (error, address) =>
        error ? reject(error) : resolve(address),
      ),
    );

  it('refuses a name that resolves to a link-local address, in one answer or among all', async () => {
    const message =
      'crm.example resolves to the link-local address 169.254.169.254: set allowLinkLocal: true if you really mean it';
    await expect(lookup(['169.254.169.254'], {})).rejects.toThrow(message);
    await expect(lookup(['10.0.0.7', '169.254.169.254'], { all: true })).rejects.toThrow(message);
    await expect(lookup(['fe80::1'], {})).rejects.toMatchObject({ code: 'ELINKLOCAL' });
    expect(requestError(await lookup(['fe80::1'], {}).catch((error) => error), 1000)).toMatchObject({
      retryable: false,
      message:
        'crm.example resolves to the link-local address fe80::1: set allowLinkLocal: true if you really mean it',
    });
  });

  it('passes any other answer on as it came', async () => {
    expect(await lookup(['10.0.0.7'], {})).toBe('10.0.0.7');
    expect(await lookup(['10.0.0.7', '2001:db8::1'], { all: true })).toEqual([
      { address: '10.0.0.7', family: 4 },
      { address: '2001:db8::1', family: 6 },
    ]);
  });
});

describe('classifyResponse and friends', () => {
  it('says ok for 2xx', () => {
    expect(classifyResponse(200, {}, 'ok')).toBeUndefined();
    expect(classifyResponse(204, {}, '')).toBeUndefined();
  });

  it('names where a redirect points, since requests are not followed (without its query)', () => {
    const error = classifyResponse(301, { location: 'https://crm.example/hooks/telecmi?session=abc' }, '');
    expect(error).toMatchObject({ retryable: false, status: 301 });
    expect(error?.message).toBe(
      'HTTP 301 (redirects to https://crm.example/hooks/telecmi; redirects are not followed: set the url to where it points): (empty body)',
    );
    expect(classifyResponse(308, { location: '/v2/hook' }, 'moved')?.message).toBe(
      'HTTP 308 (redirects to /v2/hook; redirects are not followed: set the url to where it points): moved',
    );
  });

  it('names an empty body', () => {
    expect(classifyResponse(502, {}, '  ')?.message).toBe('HTTP 502: (empty body)');
  });

  it('parses Retry-After', () => {
    const now = Date.parse('2025-01-02T03:04:05Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 02 Jan 2025 03:05:05 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Thu, 02 Jan 2025 03:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(classifyResponse(503, { 'retry-after': ['9', '10'] }, '', now)?.retryAfterMs).toBe(9000);
  });

  it('names DNS errors and keeps them retryable', () => {
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND crm.example'), {
      code: 'ENOTFOUND',
      hostname: 'crm.example',
    });
    const error = requestError(dns, 10_000);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('DNS lookup failed for crm.example (ENOTFOUND)');
    const nested = requestError(
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
      1,
    );
    expect(nested.message).toBe('connection refused (ECONNREFUSED)');
  });
});

describe('httpDestination', () => {
  it('bounds a delivery by timeoutMs and closes its connection pool', async () => {
    const config = httpConfig({ url: `${baseUrl}/hook`, timeoutMs: 2500 });
    expect(httpDestination.timeoutMs(config)).toBe(2500);
    expect(httpDestination.defaultConcurrency(config)).toBeGreaterThan(1);
    const destination = httpDestination.create(config, context.logger);
    await destination.deliver(event, context);
    await destination.close();
    await expect(destination.deliver(event, context)).rejects.toBeInstanceOf(DeliveryError);
  });
});
