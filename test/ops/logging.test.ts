import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { normalise } from '../../src/telecmi/index.ts';
import { capturingLogger } from '../helpers/logger.ts';
import { type Pipeline, startPipeline } from '../helpers/pipeline.ts';
import { waitFor } from '../helpers/redis-server.ts';
import { listSamples, loadSample, loadSampleText } from '../helpers/samples.ts';
import { Sink } from '../helpers/sink.ts';

const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const SIGNING_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const HEADER_SECRET = `crm-key-${randomBytes(12).toString('hex')}`;
const ADMIN_PASSWORD = `admin-${randomBytes(8).toString('hex')}`;

/** Every phone number in the samples: the canonical fields that hold one, 7 digits or more. */
function sampleNumbers(): string[] {
  const numbers = new Set(['440000000002', '919999999999']);
  for (const name of listSamples()) {
    const result = normalise(loadSample(name), new Date());
    if (!result.ok) continue;
    const { from, to, virtualNumber, callerId } = result.event;
    for (const value of [from, to, virtualNumber, callerId]) {
      if (value && /^\+?\d{7,}$/.test(value)) numbers.add(value.replace(/^\+/, ''));
    }
  }
  return [...numbers];
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

describe('log lines', () => {
  it('one line per notification and per delivery attempt; no phone number and no secret in any', async () => {
    // crm echoes the request (headers and body) in a 503 on the first attempt of each event, the
    // way a careless endpoint does, then accepts; strict refuses everything with an echoing 422.
    const crm = await Sink.start();
    const strict = await Sink.start();
    cleanups.push(
      () => crm.close(),
      () => strict.close(),
    );
    const seen = new Set<string>();
    crm.respond = (request) => {
      const id = String(request.headers['webhook-id']);
      if (seen.has(id)) return { status: 200 };
      seen.add(id);
      return { status: 503, body: JSON.stringify({ headers: request.headers, body: request.body }) };
    };
    strict.respond = (request) => ({ status: 422, body: `rejected: ${request.body}` });

    const { logger, raw, lines } = capturingLogger();
    const pipeline: Pipeline = await startPipeline(
      `receiver: {token: ${TOKEN}}
admin: {password: ${ADMIN_PASSWORD}}
destinations:
  - name: crm
    type: http
    url: ${crm.url}
    signingSecret: ${SIGNING_SECRET}
    headers: {Authorization: "Bearer ${HEADER_SECRET}"}
    retry: {attempts: 3, delayMs: 20}
  - {name: strict, type: http, url: "${strict.url}", retry: {attempts: 3, delayMs: 20}}
`,
      { logger },
    );
    cleanups.push(() => pipeline.stop());

    const answers: { id: string; duplicate: boolean }[] = [];
    for (const name of listSamples()) {
      const response = await fetch(`${pipeline.url}/webhook/cdr?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: loadSampleText(name),
      });
      expect(response.status, name).toBe(200);
      answers.push((await response.json()) as { id: string; duplicate: boolean });
    }
    // A refused one (wrong token) logs its refusal without the token it was sent.
    const refused = await fetch(`${pipeline.url}/webhook/cdr/wrong-${TOKEN}`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(401);

    const events = new Set(answers.filter((answer) => !answer.duplicate).map((answer) => answer.id));
    await waitFor(async () => (await pipeline.queue('crm').getCompletedCount()) === events.size, 20_000);
    await waitFor(async () => (await pipeline.queue('strict').getFailedCount()) === events.size, 20_000);
    await pipeline.stop();
    cleanups.pop();

    // One "notification received" line per notification answered 200, with its event id and outcome.
    const received = lines().filter((line) => line.msg === 'notification received');
    expect(received).toHaveLength(answers.length);
    expect(received.map((line) => line.eventId).sort()).toEqual(answers.map((answer) => answer.id).sort());
    for (const line of received) expect(['queued', 'duplicate']).toContain(line.outcome);

    // At debug, which destinations each event went to (here: both take everything).
    const routed = lines().filter((line) => line.msg === 'event routed');
    expect(new Set(routed.map((line) => line.eventId))).toEqual(
      new Set(received.map((line) => line.eventId)),
    );
    for (const line of routed)
      expect(line).toMatchObject({ callId: expect.any(String), destinations: ['crm', 'strict'] });

    // One line per delivery attempt, with event id, destination and outcome.
    const attempts = lines().filter((line) => line.msg === 'delivered' || line.msg === 'delivery failed');
    for (const line of attempts) {
      expect(line).toMatchObject({ eventId: expect.any(String), destination: expect.any(String) });
      expect(['delivered', 'retrying', 'dead', 'failed_permanently']).toContain(line.outcome);
    }
    // A retry is a warning; a delivery given up on (dead, refused for good) an error.
    for (const line of attempts)
      expect(line.level, String(line.outcome)).toBe(
        line.outcome === 'delivered' ? 30 : line.outcome === 'retrying' ? 40 : 50,
      );
    for (const line of attempts.filter((attempt) => attempt.msg === 'delivery failed'))
      expect(line).toMatchObject({ attempt: 1, maxAttempts: expect.any(Number), error: expect.any(String) });
    // Every line names the host and process: several workers of one destination run side by side.
    for (const line of lines())
      expect(line).toMatchObject({ pid: process.pid, hostname: expect.any(String) });
    const crmAttempts = attempts.filter((line) => line.destination === 'crm');
    const strictAttempts = attempts.filter((line) => line.destination === 'strict');
    expect(crmAttempts).toHaveLength(crm.requests.length);
    expect(strictAttempts).toHaveLength(strict.requests.length);
    expect(crmAttempts.filter((line) => line.outcome === 'retrying')).toHaveLength(events.size);
    expect(crmAttempts.filter((line) => line.outcome === 'delivered')).toHaveLength(events.size);
    // A delivered line names the answer's status.
    for (const line of crmAttempts.filter((attempt) => attempt.outcome === 'delivered')) {
      expect(line.httpStatus).toBe(200);
    }
    // So does the debug line of each request a destination accepted: `status` is only ever the call's.
    const accepted = lines().filter((line) => line.msg === 'http delivery accepted');
    expect(accepted).toHaveLength(events.size);
    for (const line of accepted)
      expect({ httpStatus: line.httpStatus, status: line.status }).toEqual({ httpStatus: 200 });
    expect(strictAttempts.every((line) => line.outcome === 'failed_permanently')).toBe(true);
    expect(new Set(crmAttempts.map((line) => line.eventId))).toEqual(events);

    // The echoed payloads did reach the logs, masked.
    const failures = attempts
      .filter((line) => line.msg === 'delivery failed')
      .map((line) => String(line.error));
    expect(failures.some((err) => err.includes('••••'))).toBe(true);

    const forbidden = [...sampleNumbers(), TOKEN, SIGNING_SECRET, HEADER_SECRET, ADMIN_PASSWORD];
    expect(forbidden.length).toBeGreaterThan(6);
    for (const line of raw) {
      for (const secret of forbidden) expect(line, `a log line carries ${secret}`).not.toContain(secret);
    }
  });

  it('redacts secrets by key, and URL passwords, wherever a log call puts them', () => {
    const { logger, raw } = capturingLogger();
    logger.info(
      {
        token: TOKEN,
        previousToken: `old-${TOKEN}`,
        password: ADMIN_PASSWORD,
        signingSecret: SIGNING_SECRET,
        previousSigningSecret: `${SIGNING_SECRET}old`,
        oauth2: { clientSecret: `${TOKEN}-client`, refreshToken: `${TOKEN}-refresh` },
        headers: { authorization: `Bearer ${HEADER_SECRET}` },
        webhookUrl: 'https://hooks.slack.com/services/T000/B000/slack-secret-path',
        url: 'redis://:redis-pass-123@redis.internal:6379',
        // ioredis reads a password from the query string too; a CRM URL may carry its key there.
        redis: { url: 'redis://127.0.0.1:6379/?password=redis-query-pass&db=2' },
        proxy: 'http://proxy.internal:3128/?api_key=proxy-query-key',
        destination: { url: 'postgres://app:pg-pass-123@db:5432/cdr', token: TOKEN },
        receiver: { authorization: `Bearer ${HEADER_SECRET}` },
      },
      'start-up',
    );
    const [line] = raw;
    for (const secret of [TOKEN, ADMIN_PASSWORD, SIGNING_SECRET, HEADER_SECRET])
      expect(line).not.toContain(secret);
    for (const secret of [
      'slack-secret-path',
      'redis-pass-123',
      'pg-pass-123',
      'redis-query-pass',
      'proxy-query-key',
    ])
      expect(line).not.toContain(secret);
    const parsed = JSON.parse(line ?? '{}');
    expect(parsed.url).toBe('redis://:***@redis.internal:6379');
    expect(parsed.redis.url).toBe('redis://127.0.0.1:6379/?password=***&db=2');
    expect(parsed.proxy).toBe('http://proxy.internal:3128/?api_key=***');
    expect(parsed.destination.url).toBe('postgres://app:***@db:5432/cdr');
    expect(parsed.token).toBe('[redacted]');
  });

  it('redacts secrets in child logger bindings and in errors too', () => {
    const { logger, raw } = capturingLogger();
    const error = Object.assign(new Error('refused'), {
      headers: { authorization: `Bearer ${HEADER_SECRET}` },
    });
    logger
      .child({ token: TOKEN, destination: { url: 'postgres://app:pg-pass-123@db:5432/cdr' } })
      .warn({ err: error }, 'failed');
    const [line] = raw;
    for (const secret of [TOKEN, HEADER_SECRET, 'pg-pass-123']) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line ?? '{}');
    expect(parsed.token).toBe('[redacted]');
    expect(parsed.destination.url).toBe('postgres://app:***@db:5432/cdr');
    expect(parsed.err).toMatchObject({ message: 'refused', headers: '[redacted]' });
    expect(parsed.err.stack).toContain('refused');
  });

  it('masks phone numbers in error messages unless logging.showNumbers', () => {
    const error = Object.assign(
      new Error('null value in column "x": Failing row contains (919999999999, a1234567b)'),
      {
        detail: 'from=+440000000002',
      },
    );
    const masked = capturingLogger();
    masked.logger.warn({ err: error }, 'row rejected');
    masked.logger.warn({ error: 'HTTP 400: {"from":"440000000002"}' }, 'delivery failed');
    expect(masked.raw.join('\n')).not.toMatch(/919999999999|440000000002/);
    expect(masked.raw.join('\n')).toContain('••••9999');
    // Digits inside an id are not a phone number.
    expect(masked.raw[0]).toContain('a1234567b');
    // Written in groups, as people write them: masked too; other numbers in a row are not.
    masked.logger.warn(
      {
        error:
          'HTTP 400: bad "to": "+91 98765 43210", "alt": "0800 123 4567"; took 500 1024 ms on 2026-11-25',
      },
      'delivery failed',
    );
    const grouped = masked.raw.at(-1) as string;
    expect(grouped).toContain('••••3210');
    expect(grouped).toContain('••••4567');
    expect(grouped).not.toMatch(/98765|43210|123 4567/);
    expect(grouped).toContain('500 1024 ms on 2026-11-25');

    const { raw } = (() => {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      createLogger({}, { destination: stream, showNumbers: true }).warn({ err: error }, 'row rejected');
      return { raw: lines };
    })();
    expect(raw.join('')).toContain('919999999999');

    expect(parseConfig('', 'f.yaml', {}).logging.showNumbers).toBe(false);
    expect(parseConfig('logging: {showNumbers: true}\n', 'f.yaml', {}).logging.showNumbers).toBe(true);
  });
});
