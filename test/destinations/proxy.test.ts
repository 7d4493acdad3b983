import pino from 'pino';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DestinationConfig } from '../../src/config/index.ts';
import { httpDestination } from '../../src/destinations/http/index.ts';
import { slackDestination } from '../../src/destinations/slack/index.ts';
import type { DeliveryContext, Destination } from '../../src/destinations/types.ts';
import { failure } from '../helpers/delivery.ts';
import { TunnelProxy } from '../helpers/proxy.ts';
import { sampleEvent } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const context: DeliveryContext = { attempt: 1, logger: pino({ level: 'silent' }) };
const event = sampleEvent('chub-cdr-incoming-answered');
const CREDENTIALS = { user: 'egress', password: 'pr0xy-p@ss' };

let sink: Sink;
let proxy: TunnelProxy;
const opened: Destination[] = [];

function open(options: Record<string, unknown>): Destination {
  const config = v.parse(DestinationConfig, { name: 'd', ...options });
  const destination =
    config.type === 'slack'
      ? slackDestination.create(config, context.logger)
      : config.type === 'http'
        ? httpDestination.create(config, context.logger)
        : undefined;
  if (!destination) throw new Error('expected an http or slack config');
  opened.push(destination);
  return destination;
}

const target = () => new URL(sink.url).host;

beforeEach(async () => {
  sink = await Sink.start();
  proxy = await TunnelProxy.start(CREDENTIALS);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  await proxy.close();
  await sink.close();
});

describe('proxy', () => {
  it('http: sends through the proxy, with its credentials, and keeps the tunnel alive', async () => {
    const destination = open({ type: 'http', url: sink.url, proxy: proxy.url(CREDENTIALS) });
    await destination.deliver(event, context);
    await destination.deliver(event, context);
    expect(sink.requests).toHaveLength(2);
    const basic = `Basic ${Buffer.from('egress:pr0xy-p@ss').toString('base64')}`;
    expect(proxy.tunnels).toEqual([{ target: target(), authorization: basic }]);
  });

  it('http with oauth2: the token request goes through the proxy too', async () => {
    const tokens = await Sink.start();
    tokens.respond = () => ({ status: 200, body: '{"access_token":"t1","expires_in":3600}' });
    try {
      const destination = open({
        type: 'http',
        url: sink.url,
        proxy: proxy.url(CREDENTIALS),
        oauth2: { tokenUrl: tokens.url, clientId: 'c', clientSecret: 's' },
      });
      await destination.deliver(event, context);
      expect(sink.requests[0]?.headers.authorization).toBe('Bearer t1');
      expect(proxy.tunnels.map((tunnel) => tunnel.target).sort()).toEqual(
        [new URL(tokens.url).host, target()].sort(),
      );
    } finally {
      await tokens.close();
    }
  });

  it('slack: sends through the proxy', async () => {
    await open({ type: 'slack', webhookUrl: sink.url, proxy: proxy.url(CREDENTIALS) }).deliver(
      event,
      context,
    );
    expect(sink.requests).toHaveLength(1);
    expect(proxy.tunnels.map((tunnel) => tunnel.target)).toEqual([target()]);
  });

  it('a proxy that refuses the credentials: a retryable failure, the password not in its message', async () => {
    const wrong = { user: 'egress', password: 'wrong-secret' };
    const error = await failure(
      open({ type: 'http', url: sink.url, proxy: proxy.url(wrong) }).deliver(event, context),
    );
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'the proxy answered HTTP 407 instead of opening a tunnel (proxy authentication required: check the user and password in proxy)',
    );
    expect(error.message).not.toContain('wrong-secret');
    expect(sink.requests).toHaveLength(0);
  });

  it('a proxy that is down: a retryable failure', async () => {
    const url = proxy.url();
    await proxy.close();
    proxy = await TunnelProxy.start();
    const error = await failure(open({ type: 'http', url: sink.url, proxy: url }).deliver(event, context));
    expect(error).toMatchObject({ retryable: true, message: 'connection refused (ECONNREFUSED)' });
  });

  it('an empty proxy (an unset ${HTTPS_PROXY:-}) sends straight', async () => {
    await open({ type: 'http', url: sink.url, proxy: '' }).deliver(event, context);
    expect(sink.requests).toHaveLength(1);
    expect(proxy.tunnels).toEqual([]);
  });
});
