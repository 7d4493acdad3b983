import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { Redis } from 'ioredis';
import type { AdminConfig } from '../config/index.ts';
import type { Logger } from '../ops/logger.ts';
import { recordJobCleaned, recordStateCleaned } from '../queue/cleaned.ts';
import { INGEST_QUEUE } from '../queue/names.ts';
import { tokenMatches } from './auth.ts';

/** Where the queue dashboard lives on the receiver. */
export const ADMIN_PATH = '/admin/queues';

export type AdminMode = 'off' | 'password' | 'anonymous';

export interface MountedAdmin {
  mode: AdminMode;
  /** Adds queues to the dashboard once it is up (nothing when it is off). */
  show(queues: readonly Queue[]): void;
}

export interface AdminOptions {
  config: AdminConfig;
  /** The ingest queue and every destination's queue. */
  queues: readonly Queue[];
  /** Where cleans are recorded for the ledger (`queue/cleaned.ts`), under `prefix`. */
  redis: Redis;
  prefix: string;
  logger: Logger;
}

/**
 * Mounts Bull Board at `/admin/queues`: every queue with its jobs, and the actions to retry failed
 * jobs (dead letters) and clean finished ones (see {@link guardRecords} for those it refuses). Behind HTTP basic auth (`admin.user` /
 * `admin.password`, compared in constant time); without a password it is off (404) unless
 * `admin.allowAnonymous`.
 */
export function mountAdmin(app: Hono, { config, queues, redis, prefix, logger }: AdminOptions): MountedAdmin {
  const mode: AdminMode = config.password ? 'password' : config.allowAnonymous ? 'anonymous' : 'off';
  if (mode === 'off') {
    const off = (c: Context) =>
      c.json(
        {
          error:
            'not found: the queue dashboard is off; set admin.password (or admin.allowAnonymous: true) to turn it on',
        },
        404,
      );
    app.all(ADMIN_PATH, off);
    app.all(`${ADMIN_PATH}/*`, off);
    logger.info({ path: ADMIN_PATH }, 'queue dashboard off (no admin.password)');
    return { mode, show: () => {} };
  }

  // Never inside another site's frame (a click there would be the operator's), nor sniffed or
  // referred elsewhere; first, so that a refusal (401) carries them too.
  const headers = secureHeaders({ xFrameOptions: 'DENY', crossOriginResourcePolicy: 'same-origin' });
  app.use(ADMIN_PATH, headers);
  app.use(`${ADMIN_PATH}/*`, headers);

  if (config.password) {
    const expectedUser = config.user;
    const expectedPassword = config.password;
    const challenge = basicAuth({
      realm: 'cdr-forwarder',
      // Both compared, whatever the first gives: the answer takes as long for a wrong user name.
      verifyUser: (user, password) =>
        [tokenMatches(user, expectedUser), tokenMatches(password, expectedPassword)].every(Boolean),
      invalidUserMessage: { error: 'unauthorized: the queue dashboard needs admin.user and admin.password' },
    });
    // basicAuth refuses by throwing; answer its 401 (with the challenge) here, not as a 500.
    const auth: MiddlewareHandler = async (c, next) => {
      try {
        return await challenge(c, next);
      } catch (error) {
        if (error instanceof HTTPException) return error.getResponse();
        throw error;
      }
    };
    app.use(ADMIN_PATH, auth);
    app.use(`${ADMIN_PATH}/*`, auth);
  }

  const byName = new Map(queues.map((queue) => [queue.name, queue]));
  guardRecords(app, byName, { redis, prefix, logger });
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(ADMIN_PATH);
  const board = createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'cdr-forwarder' } },
  });
  app.route(ADMIN_PATH, serverAdapter.registerPlugin());
  logger.info(
    { path: ADMIN_PATH, auth: mode === 'password' ? 'basic' : 'none', queues: queues.map((q) => q.name) },
    'queue dashboard on',
  );
  return {
    mode,
    show(more) {
      for (const queue of more) {
        byName.set(queue.name, queue);
        board.addQueue(new BullMQAdapter(queue));
      }
    },
  };
}

/** What a refused action would do, as the refusal names it. */
const REFUSED = {
  empty: 'emptying a queue',
  obliterate: 'obliterating a queue',
  add: 'adding a job by hand',
  edit: "editing a job's data",
  clean: 'removing a job that is not finished',
  cleanIngest: 'removing a notification whose fan-out failed (it reached no destination: retry it)',
  delay: "changing a delivery's delay (promote sends it now)",
} as const;

/**
 * Bull Board offers actions that would drop or alter call records that were acknowledged to
 * TeleCMI: empty or obliterate a queue, remove a job still waiting or in flight, remove an ingest
 * job whose fan-out failed (its notifications reached no destination), add a job or edit its data
 * (a record TeleCMI never sent), put a delivery off (its delay: out of sight, neither sent nor dead);
 * nor may it set a queue's rate limit or concurrency, which the config sets. They are answered 403
 * before they reach it. What stays: retry, clean finished jobs (delivered, or dead deliveries given
 * up on), pause and resume, promote, priority. Each
 * clean is recorded for the ledger, which then counts those deliveries as cleaned, not missing.
 */
function guardRecords(
  app: Hono,
  byName: ReadonlyMap<string, Queue>,
  { redis, prefix, logger }: { redis: Redis; prefix: string; logger: Logger },
): void {
  const api = `${ADMIN_PATH}/api/queues/:queueName`;
  const refuse = (c: Context, what: (typeof REFUSED)[keyof typeof REFUSED]) =>
    c.json(
      {
        error: `refused: ${what} would lose or alter call records that were acknowledged; a delivery that must not go out can be left to fail, then cleaned from the failed jobs`,
      },
      403,
    );
  // Recorded after Bull Board has answered; a record that fails is logged, the clean stands.
  const recorded = (what: Promise<unknown>, queueName: string) =>
    what.catch((error: unknown) =>
      logger.warn(
        { queue: queueName, error: (error as Error).message },
        'could not record a clean for the ledger',
      ),
    );
  const finished = (queueName: string, state: string) =>
    state === 'completed' || (state === 'failed' && queueName !== INGEST_QUEUE);
  app.put(`${api}/empty`, (c) => refuse(c, REFUSED.empty));
  app.put(`${api}/obliterate`, (c) => refuse(c, REFUSED.obliterate));
  app.post(`${api}/add`, (c) => refuse(c, REFUSED.add));
  app.patch(`${api}/:jobId/update-data`, (c) => refuse(c, REFUSED.edit));
  app.patch(`${api}/:jobId/delay`, (c) => refuse(c, REFUSED.delay));
  // Limits the config sets for each destination, which the dashboard would override behind its back.
  const configured = (c: Context, key: 'rateLimit' | 'concurrency') =>
    c.json(
      {
        error: `refused: the config sets ${key} for each destination (destinations[].${key}); change it there and restart its workers`,
      },
      403,
    );
  app.put(`${api}/rate-limit`, (c) => configured(c, 'rateLimit'));
  app.put(`${api}/concurrency`, (c) => configured(c, 'concurrency'));
  app.put(`${api}/clean/:queueStatus`, async (c, next) => {
    const queueName = c.req.param('queueName');
    const state = c.req.param('queueStatus');
    if (!finished(queueName, state)) {
      return refuse(
        c,
        queueName === INGEST_QUEUE && state === 'failed' ? REFUSED.cleanIngest : REFUSED.clean,
      );
    }
    const at = Date.now();
    await next();
    if (c.res.ok) await recorded(recordStateCleaned(redis, prefix, queueName, at), queueName);
  });
  app.put(`${api}/:jobId/clean`, async (c, next) => {
    const queueName = c.req.param('queueName');
    const jobId = c.req.param('jobId');
    const queue = byName.get(queueName);
    const state = queue ? await queue.getJobState(jobId) : 'unknown';
    if (state === 'unknown') return next();
    if (!finished(queueName, state)) {
      return refuse(
        c,
        queueName === INGEST_QUEUE && state === 'failed' ? REFUSED.cleanIngest : REFUSED.clean,
      );
    }
    await next();
    if (c.res.ok) await recorded(recordJobCleaned(redis, prefix, queueName, jobId), queueName);
  });
}
