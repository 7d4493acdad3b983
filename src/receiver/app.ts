import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { every } from 'hono/combine';
import { ipRestriction } from 'hono/ip-restriction';
import { methodNotAllowed } from 'hono/method-not-allowed';
import type { ReceiverConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { metrics, metricsResponse, type NotificationOutcome, useReceiverMetrics } from '../ops/metrics.ts';
import type { DurableResult } from '../queue/durable-ingest.ts';
import { CALL_ID_FIELDS, type CallEvent, normalise } from '../telecmi/index.ts';
import { clientAddress, presentedToken, tokenMatches } from './auth.ts';
import { readFields } from './fields.ts';

export interface ReceiverDeps {
  config: ReceiverConfig;
  /** Stores the event durably; resolves only once it is safe to acknowledge. */
  ingest: (event: CallEvent) => Promise<DurableResult>;
  /** Whether the store answers, for `/readyz`. */
  ready: () => Promise<boolean>;
  /** Notifications held in the local spool, waiting for Redis. */
  spooled?: () => number;
  logger: Logger;
  now?: () => Date;
}

/**
 * The HTTP front door: checks who is sending, reads and normalises the notification, stores it and
 * only then answers 200. Every refusal is a 4xx that says what was wrong; a 5xx means only that
 * the notification could not be stored and should be sent again.
 */
export function createReceiverApp(deps: ReceiverDeps): Hono {
  const { config, logger } = deps;
  useReceiverMetrics();
  const count = (kind: string, outcome: NotificationOutcome) => metrics.notifications.inc({ kind, outcome });
  /** `cdrf_ack_latency_seconds`: from the request's arrival here to its 200. */
  const timeAnswer: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    await next();
    if (c.res.status === 200) metrics.ackLatency.observe((performance.now() - started) / 1000);
    else if (c.error) count('unknown', 'error');
  };
  const now = deps.now ?? (() => new Date());
  const app = new Hono({ strict: false });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Prometheus; no authentication, like the health checks (see README, Metrics).
  app.get('/metrics', () => metricsResponse());
  app.get('/readyz', async (c) => {
    const redis = await deps.ready().catch(() => false);
    const spooled = deps.spooled?.() ?? 0;
    // Without Redis the receiver still accepts (into the spool), but it is not fully ready: say so.
    return c.json(
      { status: redis ? 'ok' : 'degraded', redis: redis ? 'up' : 'down', spooled },
      redis ? 200 : 503,
    );
  });

  const guards: MiddlewareHandler[] = [];
  if (config.allowIps.length > 0) {
    const trusted = config.trustProxy === true ? 1 : Number(config.trustProxy);
    guards.push(
      ipRestriction(
        (c) => clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), trusted),
        { allowList: config.allowIps },
        (remote, c) => {
          count('unknown', 'forbidden');
          metrics.authRefusals.inc({ reason: 'address_not_allowed' });
          logger.warn(
            { outcome: 'forbidden', address: remote.addr },
            'notification refused: address not allowed',
          );
          return c.json({ error: 'forbidden: this address is not in receiver.allowIps' }, 403);
        },
      ),
    );
  }
  if (config.token) {
    const tokens = [config.token, config.previousToken].filter((token) => token !== undefined);
    guards.push(async (c, next) => {
      const presented = presentedToken(c);
      // Every token is compared, so the time taken does not tell which one nearly matched.
      const matches = tokens.map((token) => tokenMatches(presented, token));
      if (!matches.includes(true)) {
        count('unknown', 'unauthorized');
        metrics.authRefusals.inc({ reason: presented === undefined ? 'missing_token' : 'wrong_token' });
        logger.warn({ outcome: 'unauthorized' }, 'notification refused: missing or wrong token');
        return c.json(
          {
            error:
              'unauthorized: send the webhook token as ?token=, as the last path segment or as a Bearer token',
          },
          401,
        );
      }
      await next();
    });
  }
  const tooLarge = (c: Context) => {
    count('unknown', 'too_large');
    return c.json({ error: `body too large: at most ${config.maxBodyBytes} bytes` }, 413);
  };
  // Counts a chunked body (no Content-Length) as it streams; only such bodies need it.
  const streamedLimit = bodyLimit({ maxSize: config.maxBodyBytes, onError: tooLarge });
  guards.push(async (c, next) => {
    // A declared length is checked from the header alone: touching the body stream here would make
    // the Node adapter build a full Request, which costs more than all the rest of the handling.
    const declared = c.req.header('content-length');
    if (declared !== undefined && !c.req.header('transfer-encoding')) {
      return Number(declared) > config.maxBodyBytes ? tooLarge(c) : next();
    }
    return c.req.method === 'GET' ? next() : streamedLimit(c, next);
  });

  const receive = async (c: Context) => {
    const read = await readFields(c);
    if (!read.ok) {
      count('unknown', 'invalid');
      return c.json({ error: read.error }, read.status);
    }
    const normalised = normalise(read.fields, now());
    if (!normalised.ok) {
      count('unknown', 'invalid');
      return c.json({ error: normalised.error, expected: CALL_ID_FIELDS }, 422);
    }
    const event = normalised.event;
    try {
      const { duplicate, spooled } = await deps.ingest(event);
      const outcome = duplicate ? 'duplicate' : spooled ? 'spooled' : 'queued';
      count(event.kind, outcome);
      if (duplicate) metrics.duplicates.inc();
      logger.info(
        { eventId: event.id, kind: event.kind, status: event.status, outcome },
        'notification received',
      );
      return c.json({ id: event.id, duplicate });
    } catch (error) {
      count(event.kind, 'unavailable');
      logger.error({ eventId: event.id, error: (error as Error).message }, 'notification not stored');
      c.header('Retry-After', '5');
      return c.json(
        { error: 'not stored: neither the queue nor the spool is available, send it again' },
        503,
      );
    }
  };

  app.use(methodNotAllowed({ app, onMethodNotAllowed: methodNotAllowedResponse }));
  const guard = every(...guards);
  app.on(['GET', 'POST'], config.path, timeAnswer, guard, receive);
  if (config.token) app.on(['GET', 'POST'], `${config.path}/:token`, timeAnswer, guard, receive);

  app.notFound((c) => c.json({ error: `not found: notifications go to ${config.path}` }, 404));
  app.onError((error, c) => {
    logger.error({ err: error }, 'unexpected error while handling a request');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

function methodNotAllowedResponse(c: Context, methods: string[]): Response {
  return c.json({ error: `method not allowed: use ${methods.join(' or ')}` }, 405, {
    Allow: methods.join(', '),
  });
}
