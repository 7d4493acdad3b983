import pino from 'pino';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import { httpDestination } from '../../src/destinations/http/index.ts';
import { OAuth2Token } from '../../src/destinations/http/oauth2.ts';
import { OAuth2Options } from '../../src/destinations/http/options.ts';
import type { DeliveryContext, Destination } from '../../src/destinations/types.ts';
import { failure } from '../helpers/delivery.ts';
import { startPipeline } from '../helpers/pipeline.ts';
import { waitFor } from '../helpers/redis-server.ts';
import { loadSample, sampleEvent } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const CLIENT_SECRET = 'client-secret-0f9e8d7c6b5a';
const REFRESH_TOKEN = '1000.refresh-token-a1b2c3d4e5';
const context: DeliveryContext = { attempt: 1, logger: pino({ level: 'silent' }) };
const event = sampleEvent('chub-cdr-incoming-answered');

let tokens: Sink;
let crm: Sink;
let issued = 0;
const opened: Destination[] = [];

/** The token endpoint's answer to a good request: a new token each time. */
function grant(expiresIn: number | string = 3600): { status: number; body: string } {
  issued += 1;
  return { status: 200, body: JSON.stringify({ access_token: `token-${issued}`, expires_in: expiresIn }) };
}

function open(oauth2: Record<string, unknown>, options: Record<string, unknown> = {}): Destination {
  const config = v.parse(DestinationConfig, {
    name: 'crm',
    type: 'http',
    url: crm.url,
    oauth2: { tokenUrl: tokens.url, clientId: 'cdr-forwarder', clientSecret: CLIENT_SECRET, ...oauth2 },
    ...options,
  }) as DestinationConfigOf<'http'>;
  const destination = httpDestination.create(config, context.logger);
  opened.push(destination);
  return destination;
}

const form = (index: number) => Object.fromEntries(new URLSearchParams(tokens.requests[index]?.body ?? ''));

beforeEach(async () => {
  issued = 0;
  tokens = await Sink.start();
  crm = await Sink.start();
  tokens.respond = () => grant();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  await tokens.close();
  await crm.close();
});

describe('http destination with oauth2', () => {
  it('fetches a token with the client credentials grant and sends it on every request', async () => {
    const destination = open({ scope: 'calls.write' });
    await destination.deliver(event, context);
    await destination.deliver(event, context);
    expect(tokens.requests).toHaveLength(1);
    expect(tokens.requests[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(form(0)).toEqual({
      grant_type: 'client_credentials',
      scope: 'calls.write',
      client_id: 'cdr-forwarder',
      client_secret: CLIENT_SECRET,
    });
    expect(crm.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-1',
    ]);
  });

  it('uses the refresh token grant, basic client auth and the configured prefix (Zoho CRM)', async () => {
    const destination = open({
      refreshToken: REFRESH_TOKEN,
      clientAuth: 'basic',
      tokenPrefix: 'Zoho-oauthtoken',
    });
    await destination.deliver(event, context);
    expect(form(0)).toEqual({ grant_type: 'refresh_token', refresh_token: REFRESH_TOKEN });
    const basic = Buffer.from(`cdr-forwarder:${CLIENT_SECRET}`).toString('base64');
    expect(tokens.requests[0]?.headers.authorization).toBe(`Basic ${basic}`);
    expect(crm.requests[0]?.headers.authorization).toBe('Zoho-oauthtoken token-1');
  });

  it('keeps using a refresh token the endpoint sends back in place of the configured one', async () => {
    tokens.respond = () => {
      issued += 1;
      return {
        status: 200,
        body: JSON.stringify({
          access_token: `token-${issued}`,
          expires_in: 1,
          refresh_token: `rotated-${issued}`,
        }),
      };
    };
    const destination = open({ refreshToken: REFRESH_TOKEN });
    await destination.deliver(event, context);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    await destination.deliver(event, context);
    expect([form(0).refresh_token, form(1).refresh_token]).toEqual([REFRESH_TOKEN, 'rotated-1']);
  });

  it('shares one token request among the deliveries in flight', async () => {
    const destination = open({});
    await Promise.all(Array.from({ length: 20 }, () => destination.deliver(event, context)));
    expect(tokens.requests).toHaveLength(1);
    expect(new Set(crm.requests.map((request) => request.headers.authorization))).toEqual(
      new Set(['Bearer token-1']),
    );
  });

  it('fetches a new token once the current one is about to expire', async () => {
    // A 100 s token is renewed a tenth of its lifetime early; a 1 h one, a minute early. The clock
    // is the token's own, moved by hand, so the test does not race a real one.
    let now = 1_000_000;
    const token = new OAuth2Token(
      v.parse(OAuth2Options, { tokenUrl: tokens.url, clientId: 'c', clientSecret: 's' }),
      { timeoutMs: 5_000, now: () => now },
    );
    try {
      tokens.respond = () => grant('100');
      expect((await token.authorization()).header).toBe('Bearer token-1');
      now += 89_999;
      expect((await token.authorization()).header).toBe('Bearer token-1');
      now += 1;
      tokens.respond = () => grant(3600);
      expect((await token.authorization()).header).toBe('Bearer token-2');
      now += 3_540_000 - 1;
      expect((await token.authorization()).header).toBe('Bearer token-2');
      now += 1;
      expect((await token.authorization()).header).toBe('Bearer token-3');
      expect(tokens.requests).toHaveLength(3);
    } finally {
      await token.close();
    }
  });

  it('retries a 401 with a new token instead of failing the delivery for good', async () => {
    crm.respond = (request) =>
      request.headers.authorization === 'Bearer token-1'
        ? { status: 401, body: '{"code":"INVALID_TOKEN"}' }
        : { status: 200 };
    const destination = open({});
    const error = await failure(destination.deliver(event, context));
    expect(error).toMatchObject({ retryable: true, status: 401 });
    expect(error.message).toBe(
      'HTTP 401: {"code":"INVALID_TOKEN"} (the OAuth token was refused; a retry fetches a new one)',
    );
    await destination.deliver(event, { ...context, attempt: 2 });
    expect(crm.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
    ]);
  });

  it('fails deliveries, retryably and without a request, while the token endpoint refuses', async () => {
    tokens.respond = (request) => ({
      status: 400,
      body: JSON.stringify({ error: 'invalid_client', echoed: request.body }),
    });
    const destination = open({ refreshToken: REFRESH_TOKEN });
    const error = await failure(destination.deliver(event, context));
    expect(error.retryable).toBe(true);
    // The destination is held while the token endpoint is not asked again.
    expect(error.retryAfterMs).toBe(5_000);
    expect(error.message).toMatch(
      new RegExp(
        `^OAuth token request to ${tokens.url.replace(/\//g, '\\/')} failed: HTTP 400: \\{"error":"invalid_client"`,
      ),
    );
    // The endpoint echoed the request: neither secret may reach the error (it is logged, and kept on the job).
    expect(error.message).not.toContain(CLIENT_SECRET);
    expect(error.message).not.toContain(REFRESH_TOKEN);
    // The deliveries that follow at once get the same error without asking again.
    const again = await failure(destination.deliver(event, context));
    expect(again.message).toBe(error.message);
    expect(again.retryAfterMs).toBeGreaterThan(0);
    expect(again.retryAfterMs).toBeLessThanOrEqual(5_000);
    expect(tokens.requests).toHaveLength(1);
    expect(crm.requests).toHaveLength(0);
  });

  it('says when the token endpoint answers 200 without an access_token (Zoho reports errors so)', async () => {
    tokens.respond = () => ({ status: 200, body: '{"error":"invalid_code"}' });
    const error = await failure(open({ refreshToken: REFRESH_TOKEN }).deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      `OAuth token request to ${tokens.url} answered without an access_token: {"error":"invalid_code"}`,
    );
    expect(crm.requests).toHaveLength(0);
  });

  it('says when the token endpoint cannot be reached', async () => {
    const url = tokens.url;
    await tokens.close();
    tokens = await Sink.start();
    const error = await failure(open({ tokenUrl: url }).deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`OAuth token request to ${url} failed: connection refused (ECONNREFUSED)`);
  });
});

describe('a token endpoint that refuses, through the workers', () => {
  it('holds the destination: the deliveries wait without spending their attempts, then all go', async () => {
    tokens.respond = () => ({ status: 400, body: '{"error":"invalid_client"}' });
    const p = await startPipeline(`destinations:
  - name: crm
    type: http
    url: "${crm.url}"
    oauth2: {tokenUrl: "${tokens.url}", clientId: cdr-forwarder, clientSecret: ${CLIENT_SECRET}}
    retry: {attempts: 3, delayMs: 100, maxDelayMs: 60000}
`);
    try {
      const ids: string[] = [];
      for (const cmiuuid of ['oauth-held-1', 'oauth-held-2', 'oauth-held-3', 'oauth-held-4']) {
        ids.push((await p.post({ ...loadSample('chub-cdr-incoming-answered.json'), cmiuuid })).body.id);
      }
      const jobs = () => Promise.all(ids.map((id) => p.queue('crm').getJob(`${id}.crm`)));
      await waitFor(async () => (await jobs()).some((job) => (job?.attemptsMade ?? 0) > 0), 10_000);
      // With 3 attempts 100 ms apart, they would all be dead within a second but for the hold.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const attempts = (await jobs()).map((job) => job?.attemptsMade ?? 0);
      expect(attempts.reduce((sum, made) => sum + made, 0)).toBe(1);
      expect(tokens.requests).toHaveLength(1);
      // The credentials fixed: every delivery goes once the hold ends.
      tokens.respond = () => grant();
      await waitFor(() => crm.requests.length === ids.length, 15_000);
      const states = await Promise.all((await jobs()).map((job) => job?.getState()));
      expect(states).toEqual(ids.map(() => 'completed'));
    } finally {
      await p.stop();
    }
  });
});
