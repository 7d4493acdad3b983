import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import * as v from 'valibot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import { slackDestination } from '../../src/destinations/slack/index.ts';
import { slackMessage } from '../../src/destinations/slack/message.ts';
import type { DeliveryContext, Destination } from '../../src/destinations/types.ts';
import { failure } from '../helpers/delivery.ts';
import { listSamples, sampleEvent } from '../helpers/samples.ts';

const context: DeliveryContext = { attempt: 1, logger: pino({ level: 'silent' }) };

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for Slack's incoming webhook: a real HTTP server that records the messages. */
const received: Received[] = [];
let respond: (res: ServerResponse) => void = (res) => res.writeHead(200).end('ok');
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    respond(res);
  });
});
let webhookUrl = '';
const opened: Destination[] = [];

function slackConfig(options: Record<string, unknown> = {}): DestinationConfigOf<'slack'> {
  const config = v.parse(DestinationConfig, { name: 'slack', type: 'slack', webhookUrl, ...options });
  if (config.type !== 'slack') throw new Error('expected a slack config');
  return config;
}

function open(options: Record<string, unknown> = {}): Destination {
  const destination = slackDestination.create(slackConfig(options), context.logger);
  opened.push(destination);
  return destination;
}

/** Delivers one sample and returns the JSON Slack received. */
async function post(
  name: string,
  options: Record<string, unknown> = {},
  fields?: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await open(options).deliver(sampleEvent(name, fields && { fields }), context);
  const last = received.at(-1);
  if (!last) throw new Error('nothing received');
  return JSON.parse(last.body) as Record<string, unknown>;
}

/** The whole message as JSON text, to search every block at once. */
function allText(message: Record<string, unknown>): string {
  return JSON.stringify(message);
}

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXXSECRETXXXX`;
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  received.length = 0;
  respond = (res) => res.writeHead(200).end('ok');
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('slack destination: the built-in message', () => {
  it('posts Block Kit JSON with a text fallback for a missed call', async () => {
    const message = await post('chub-cdr-incoming-missed');
    expect(received[0]?.method).toBe('POST');
    expect(received[0]?.url).toBe('/services/T000/B000/XXXXSECRETXXXX');
    expect(received[0]?.headers['content-type']).toBe('application/json');
    expect(message.text).toContain('Missed call from +440000000001');
    expect(message.text).toContain('2 min 7 s');
    expect(message.text).toContain('voicemail');
    const blocks = message.blocks as { type: string }[];
    expect(blocks[0]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: message.text } });
    expect(blocks.map((block) => block.type)).toEqual(['section', 'section', 'context']);
    const text = allText(message);
    expect(text).toContain('*Team*\\nSales');
    expect(text).toContain('*Virtual number*\\n+440000000000');
    expect(text).toContain('*Waited*\\n2 min 7 s');
    expect(text).toContain('*Recording*\\nno');
    expect(text).toContain('*Voicemail*\\nyes');
    expect(text).toMatch(/<!date\^1634721099\^/);
    // The voicemail's file name never goes out (its play URL carries the app secret).
    expect(text).not.toContain('1634721220656289350027');
  });

  it('names the agent and duration of an answered call, and says a recording exists without its URL', async () => {
    const message = await post('chub-cdr-incoming-answered');
    expect(message.text).toContain('Answered call from +440000000002 by agent 204');
    expect(message.text).toContain('11 s');
    const text = allText(message);
    expect(text).toContain('*Agent*\\n204');
    expect(text).toContain('*Duration*\\n11 s');
    expect(text).toContain('*Recording*\\nyes');
    expect(text).not.toContain('1634720915260737218351');
    expect(text).not.toMatch(/https?:/);
    expect(text).not.toContain('.mp3');
  });

  it('describes outgoing calls by leg', async () => {
    const answered = await post('chub-cdr-outgoing-answered-leg-b');
    expect(answered.text).toContain('Outgoing call by agent 202 to +442000000001 (leg b) answered');
    expect(answered.text).toContain('6 s');
    const missed = await post('chub-cdr-outgoing-missed-leg-b');
    expect(missed.text).toContain('Outgoing call by agent 202 to +442000000001 (leg b) not answered');
  });

  it('describes a missed call of one agent', async () => {
    const message = await post('chub-cdr-incoming-user-missed');
    expect(message.text).toContain('Agent 302 missed a call from +440000000000');
  });

  it('describes live events', async () => {
    expect((await post('chub-event-incoming-waiting')).text).toContain(
      'Incoming call waiting from +440000000000',
    );
    expect((await post('chub-event-agent-started')).text).toContain('Agent 204 is ringing');
    expect((await post('chub-event-agent-answered')).text).toContain('Agent 204 answered');
    expect((await post('chub-event-agent-hangup')).text).toContain('Agent 204 hung up');
    expect((await post('chub-event-incoming-answered')).text).toContain(
      'Incoming call from +440000000000 answered',
    );
    expect((await post('chub-event-incoming-hangup')).text).toContain('Incoming call from +9100000000 ended');
    expect((await post('chub-event-outgoing-started-leg-a')).text).toContain(
      'Outgoing call by agent 202 to +442000000001 (leg a) started',
    );
    expect((await post('piopiy-event-outbound-answered-leg-a')).text).toContain(
      'Outgoing call to +19170000000 (leg a) answered',
    );
    const live = await post('chub-event-agent-answered');
    expect(allText(live)).not.toContain('Recording');
  });

  it('maskNumbers shows only the last 4 digits, everywhere in the payload', async () => {
    for (const name of listSamples()) {
      const event = sampleEvent(name);
      const text = JSON.stringify(slackMessage(event, { maskNumbers: true }));
      for (const number of [event.from, event.to, event.callerId]) {
        // The virtual number may be the callee of an incoming PIOPIY call (`to`): it is shown.
        if (number === null || number.length <= 4 || number === event.virtualNumber) continue;
        expect(text, name).not.toContain(number);
      }
    }
    expect(
      JSON.stringify(slackMessage(sampleEvent('chub-cdr-incoming-missed'), { maskNumbers: false })),
    ).toContain('440000000001');
    const message = await post('chub-cdr-incoming-answered', { maskNumbers: true });
    const text = allText(message);
    expect(message.text).toContain('Answered call from ••••0002 by agent 204');
    for (const number of ['440000000002', '440000000001']) expect(text).not.toContain(number);
    // The virtual number is the business's own line, not a person's: shown, so that a reader knows
    // which line was called.
    expect(text).toContain('*Virtual number*\\n+440000000000');
  });

  it('says which call it is, so that a reader can find it in TeleCMI', async () => {
    const message = await post('chub-cdr-incoming-missed', { maskNumbers: true });
    expect(allText(message)).toContain('call 4d1f9521-50e5-447d-bf5f-c3292995a727');
  });

  it('escapes Slack mrkdwn control characters in values', () => {
    const event = { ...sampleEvent('chub-cdr-incoming-answered'), team: '<!channel> & co' };
    expect(JSON.stringify(slackMessage(event, { maskNumbers: false }))).toContain(
      '&lt;!channel&gt; &amp; co',
    );
  });
});

describe('slack destination: template', () => {
  it('posts the rendered template instead of the built-in message', async () => {
    const template = { text: 'Call {{status}} from {{from}} ({{answeredSec}} s)', unfurl_links: false };
    const message = await post('chub-cdr-incoming-answered', { template });
    expect(message).toEqual({ text: 'Call answered from 440000000002 (11 s)', unfurl_links: false });
  });

  it('sends a string template as the text, and masks numbers in it (raw ones too)', async () => {
    const message = await post('chub-cdr-incoming-answered', {
      template: '{{from}} / {{raw.from}} / {{raw.virtual_number}} / {{answeredSec}} s',
      maskNumbers: true,
    });
    expect(message).toEqual({ text: '••••0002 / ••••0002 / 440000000000 / 11 s' });
  });

  it('masks the numbers in custom and extra_params too, where a CRM often puts the customer', async () => {
    const message = await post(
      'chub-cdr-incoming-answered',
      {
        template:
          'cust={{custom.phone}} alt={{custom.alt}} n={{custom.count}} raw={{raw.custom}} x={{extraParams}}',
        maskNumbers: true,
      },
      {
        custom: '{"phone":"919812345678","alt":919812340000,"count":3}',
        extra_params: '{"callback":"+91 98123 45670"}',
      },
    );
    expect(message.text).toBe(
      'cust=••••5678 alt=••••0000 n=3 raw={"phone":"••••5678","alt":••••0000,"count":3} x={"callback":"••••5670"}',
    );
  });
});

describe('slack destination: outcomes', () => {
  it('is rate-limited to one message a second, one at a time, by default', () => {
    const config = slackConfig();
    expect(slackDestination.defaultRateLimit).toEqual({ max: 1, perMs: 1000 });
    expect(slackDestination.defaultConcurrency(config)).toBe(1);
    expect(slackDestination.timeoutMs(config)).toBe(10_000);
  });

  it('429 with Retry-After is retryable not before it', async () => {
    respond = (res) => res.writeHead(429, { 'retry-after': '7' }).end('rate_limited');
    const error = await failure(open().deliver(sampleEvent('chub-cdr-incoming-missed'), context));
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7000);
    expect(error.message).toBe('HTTP 429: rate_limited');
  });

  it.each([
    [400, 'invalid_payload'],
    [404, 'no_service'],
    [410, 'channel_is_archived'],
  ])('HTTP %i %s is permanent', async (status, reason) => {
    respond = (res) => res.writeHead(status).end(reason);
    const error = await failure(open().deliver(sampleEvent('chub-cdr-incoming-missed'), context));
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`HTTP ${status}: ${reason}`);
    expect(error.message).not.toContain('XXXXSECRETXXXX');
  });

  it('500 is retryable', async () => {
    respond = (res) => res.writeHead(500).end('internal_error');
    const error = await failure(open().deliver(sampleEvent('chub-cdr-incoming-missed'), context));
    expect(error.retryable).toBe(true);
  });

  it('a refused connection is retryable and does not reveal the webhook URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await failure(
      open({ webhookUrl: `http://127.0.0.1:${port}/services/T/B/XXXXSECRETXXXX` }).deliver(
        sampleEvent('chub-cdr-incoming-missed'),
        context,
      ),
    );
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('connection refused (ECONNREFUSED)');
  });
});
