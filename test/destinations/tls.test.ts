import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import pino from 'pino';
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DestinationConfig, parseConfig } from '../../src/config/index.ts';
import { httpDestination } from '../../src/destinations/http/index.ts';
import type { DeliveryContext, Destination } from '../../src/destinations/types.ts';
import { failure } from '../helpers/delivery.ts';
import { sampleEvent } from '../helpers/samples.ts';

/** Test-only certificates: see test/fixtures/tls/README.md. */
const TLS = 'test/fixtures/tls';
const context: DeliveryContext = { attempt: 1, logger: pino({ level: 'silent' }) };
const event = sampleEvent('chub-cdr-incoming-answered');

interface Received {
  url: string;
  /** The CN of the client certificate, when one was presented. */
  client: string | undefined;
}

/** An HTTPS server with a certificate of the test CA; with `requireClientCert`, mutual TLS. */
async function startHttps(
  requireClientCert = false,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer(
    {
      cert: readFileSync(`${TLS}/server.pem`),
      key: readFileSync(`${TLS}/server-key.pem`),
      ...(requireClientCert && {
        ca: readFileSync(`${TLS}/ca.pem`),
        requestCert: true,
        rejectUnauthorized: true,
      }),
    },
    (req, res) => {
      const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
      received.push({ url: req.url ?? '', client: Array.isArray(cn) ? cn[0] : cn });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url === '/token' ? '{"access_token":"t1","expires_in":3600}' : 'ok');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `https://localhost:${(server.address() as AddressInfo).port}`, received, server };
}

const servers: Server[] = [];
const opened: Destination[] = [];

function open(options: Record<string, unknown>): Destination {
  const config = v.parse(DestinationConfig, { name: 'crm', type: 'http', ...options });
  if (config.type !== 'http') throw new Error('expected an http config');
  const destination = httpDestination.create(config, context.logger);
  opened.push(destination);
  return destination;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('http destination, tls', () => {
  it('refuses a certificate of a private CA it was not given, retryably', async () => {
    const { url, received } = await startHttps();
    const error = await failure(open({ url: `${url}/hook` }).deliver(event, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'TLS error: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); a certificate of a private CA needs tls.ca',
    );
    expect(received).toEqual([]);
  });

  it('trusts the CA of tls.ca, besides the usual ones', async () => {
    const { url, received } = await startHttps();
    await open({ url: `${url}/hook`, tls: { ca: `${TLS}/ca.pem` } }).deliver(event, context);
    expect(received).toEqual([{ url: '/hook', client: undefined }]);
  });

  it('presents tls.cert and tls.key to a server that asks for a client certificate (mutual TLS)', async () => {
    const { url, received } = await startHttps(true);
    const without = await failure(
      open({ url: `${url}/hook`, tls: { ca: `${TLS}/ca.pem` } }).deliver(event, context),
    );
    expect(without.retryable).toBe(true);
    expect(received).toEqual([]);
    await open({
      url: `${url}/hook`,
      tls: { ca: `${TLS}/ca.pem`, cert: `${TLS}/client.pem`, key: `${TLS}/client-key.pem` },
    }).deliver(event, context);
    expect(received).toEqual([{ url: '/hook', client: 'cdr-forwarder' }]);
  });

  it('uses the same TLS files for the OAuth token request', async () => {
    const { url, received } = await startHttps(true);
    await open({
      url: `${url}/hook`,
      tls: { ca: `${TLS}/ca.pem`, cert: `${TLS}/client.pem`, key: `${TLS}/client-key.pem` },
      oauth2: { tokenUrl: `${url}/token`, clientId: 'c', clientSecret: 's' },
    }).deliver(event, context);
    expect(received.map((request) => request.url)).toEqual(['/token', '/hook']);
  });

  it('checks the files at start-up: missing, not PEM, a certificate without its key', () => {
    const problems = (tls: string) => {
      try {
        parseConfig(
          `destinations:\n  - {name: crm, type: http, url: "https://crm.example/hook", tls: ${tls}}\n`,
          'f.yaml',
          {},
        );
        return [];
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
      }
    };
    expect(problems(`{ca: ${TLS}/ca.pem, cert: ${TLS}/client.pem, key: ${TLS}/client-key.pem}`)).toEqual([]);
    expect(problems('{ca: /nonexistent/ca.pem}')).toEqual([
      'destinations[0].tls.ca: cannot read /nonexistent/ca.pem (ENOENT)',
    ]);
    expect(problems(`{ca: ${TLS}/README.md}`)).toEqual([
      `destinations[0].tls.ca: ${TLS}/README.md is not a PEM file (no -----BEGIN line)`,
    ]);
    expect(problems(`{cert: ${TLS}/client.pem}`)).toEqual([
      'destinations[0].tls.key: cert and key go together',
    ]);
  });
});
