import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import { COLUMNS, eventToRow, postgresDestination } from '../../src/destinations/postgres/index.ts';
import { DeliveryError, type Destination } from '../../src/destinations/types.ts';
import { type CallEvent, normalise } from '../../src/telecmi/index.ts';
import { capturingLogger } from '../helpers/logger.ts';
import { listSamples, loadSample } from '../helpers/samples.ts';

const URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const logger = pino({ level: 'silent' });
const context = { attempt: 1, logger };

const admin = new pg.Pool({ connectionString: URL, max: 4 });
/** Every table and schema a test made, dropped in afterAll. */
const tables: string[] = [];
const schemas: string[] = [];
const destinations: Destination[] = [];

function hex(): string {
  return randomBytes(6).toString('hex');
}

function newTable(): string {
  const table = `t_${hex()}`;
  tables.push(table);
  return table;
}

function config(
  table: string,
  options: { batch?: { size?: number; waitMs?: number }; url?: string; timeoutMs?: number } = {},
): DestinationConfigOf<'postgres'> {
  const parsed = v.parse(DestinationConfig, {
    name: 'warehouse',
    type: 'postgres',
    url: options.url ?? URL,
    table,
    batch: options.batch ?? { size: 50, waitMs: 20 },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  if (parsed.type !== 'postgres') throw new Error('expected a postgres config');
  return parsed;
}

function create(cfg: DestinationConfigOf<'postgres'>): Destination {
  const destination = postgresDestination.create(cfg, logger);
  destinations.push(destination);
  return destination;
}

function event(fields: Record<string, unknown>, receivedAt = new Date()): CallEvent {
  const result = normalise(fields, receivedAt);
  if (!result.ok) throw new Error(`expected ok, got: ${result.error}`);
  return result.event;
}

/** `count` distinct CDRs: the answered incoming sample with a different call id each. */
function manyEvents(count: number): CallEvent[] {
  const fields = loadSample('chub-cdr-incoming-answered');
  return Array.from({ length: count }, (_, index) =>
    event({ ...fields, cmiuuid: `call-${index}-${hex()}`, time: 1_700_000_000_000 + index }),
  );
}

async function count(table: string): Promise<number> {
  const result = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return result.rows[0]?.n ?? -1;
}

/** Rejects with the DeliveryError, or fails the test when the promise resolves. */
async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

afterAll(async () => {
  await Promise.allSettled(destinations.map((destination) => destination.close()));
  for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${table}`);
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('postgres destination', () => {
  it('defaults: concurrency keeps every batch write busy, the timeout covers a statement and the batch wait', () => {
    const cfg = config('t_defaults', { batch: { size: 300, waitMs: 150 }, timeoutMs: 5_000 });
    expect(postgresDestination.defaultConcurrency(cfg)).toBe(4 * 300); // 3 batches written, 1 filling
    expect(postgresDestination.timeoutMs(cfg)).toBe(5_150);
    const defaults = v.parse(DestinationConfig, { name: 'warehouse', type: 'postgres', url: URL });
    if (defaults.type !== 'postgres') throw new Error('expected a postgres config');
    expect(defaults.table).toBe('telecmi_call_events');
    expect(postgresDestination.defaultConcurrency(defaults)).toBe(2_000);
    expect(postgresDestination.timeoutMs(defaults)).toBe(30_200);
  });

  it('exports the columns and the row of an event in the same order', () => {
    const e = event(loadSample('chub-cdr-incoming-answered'));
    const row = eventToRow(e);
    expect(row).toHaveLength(COLUMNS.length);
    const byName = Object.fromEntries(COLUMNS.map((column, index) => [column.name, row[index]]));
    expect(byName).toMatchObject({
      id: e.id,
      from_number: '440000000002',
      user_id: '204_2222223',
      answered_sec: 11,
      occurred_at: '2021-10-20T09:08:40.615Z',
      custom: '{"key":"value"}',
      extra_params: null,
    });
  });

  describe('the table', () => {
    const table = newTable();

    beforeAll(async () => {
      const destination = create(config(table));
      await destination.deliver(event(loadSample('chub-cdr-incoming-answered')), context);
    });

    it('is created with typed columns', async () => {
      const { rows } = await admin.query<{ column_name: string; data_type: string; is_nullable: string }>(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      );
      const text = 'text';
      const time = 'timestamp with time zone';
      const number = 'double precision';
      expect(Object.fromEntries(rows.map((row) => [row.column_name, row.data_type]))).toEqual({
        id: text,
        provider: text,
        kind: text,
        status: text,
        direction: text,
        leg: text,
        call_id: text,
        conversation_id: text,
        app_id: text,
        from_number: text,
        to_number: text,
        virtual_number: text,
        caller_id: text,
        user_id: text,
        team: text,
        request_id: text,
        ivr_name: text,
        occurred_at: time,
        started_at: time,
        answered_at: time,
        ended_at: time,
        received_at: time,
        answered_sec: number,
        waited_sec: number,
        hangup_reason: text,
        recording: text,
        voicemail: text,
        custom: 'jsonb',
        extra_params: 'jsonb',
        raw: 'jsonb',
        inserted_at: time,
      });
      expect(rows.find((row) => row.column_name === 'id')?.is_nullable).toBe('NO');
    });

    it('has a primary key on id and indexes on occurred_at, call_id and conversation_id', async () => {
      const { rows } = await admin.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1`,
        [table],
      );
      const definitions = rows.map((row) => row.indexdef.replace(/^.* USING /, ''));
      expect(definitions.sort()).toEqual([
        'btree (call_id)',
        'btree (conversation_id)',
        'btree (id)',
        'btree (occurred_at)',
      ]);
      expect(rows.find((row) => row.indexdef.endsWith('(id)'))?.indexname).toBe(`${table}_pkey`);
    });
  });

  it('creates a schema-qualified table, its indexes in that schema', async () => {
    const schema = `s_${hex()}`;
    schemas.push(schema);
    await admin.query(`CREATE SCHEMA ${schema}`);
    const destination = create(config(`${schema}.events`));
    await destination.deliver(event(loadSample('chub-cdr-incoming-answered')), context);
    expect(await count(`${schema}.events`)).toBe(1);
    const { rows } = await admin.query<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname',
      [schema, 'events'],
    );
    expect(rows.map((row) => row.indexname)).toEqual([
      'events_call_id_idx',
      'events_conversation_id_idx',
      'events_occurred_at_idx',
      'events_pkey',
    ]);
  });

  it('creates the schema of a schema-qualified table too, when it is missing', async () => {
    const schema = `s_${hex()}`;
    schemas.push(schema);
    const destination = create(config(`${schema}.events`));
    await destination.deliver(event(loadSample('chub-cdr-incoming-answered')), context);
    expect(await count(`${schema}.events`)).toBe(1);
  });

  it('writes every TeleCMI sample with typed columns', async () => {
    const table = newTable();
    const destination = create(config(table));
    const receivedAt = new Date('2025-01-02T03:04:05.678Z');
    const byName = new Map(listSamples().map((name) => [name, event(loadSample(name), receivedAt)]));
    const events = [...byName.values()];
    await Promise.all(events.map((e) => destination.deliver(e, context)));
    expect(await count(table)).toBe(new Set(events.map((e) => e.id)).size);

    const answered = byName.get('chub-cdr-incoming-answered.json');
    const { rows } = await admin.query(`SELECT * FROM ${table} WHERE id = $1`, [answered?.id]);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(row).toMatchObject({
      provider: 'chub',
      kind: 'cdr',
      status: 'answered',
      direction: 'inbound',
      leg: null,
      call_id: '16132200-57fa-47b5-888d-4ab5b7e631ee',
      conversation_id: '16132200-57fa-47b5-888d-4ab5b7e631ee',
      app_id: '2222223',
      from_number: '440000000002',
      to_number: '440000000001',
      virtual_number: '440000000000',
      user_id: '204_2222223',
      team: 'Sales_2222223',
      ivr_name: 'salesivr',
      answered_sec: 11,
      waited_sec: null,
      hangup_reason: 'recv_bye',
      recording: '1634720915260737218351_2222223.mp3',
      custom: { key: 'value' },
      extra_params: null,
      started_at: null,
    });
    expect(row.occurred_at).toEqual(new Date(1634720920615));
    expect(row.received_at).toEqual(receivedAt);
    expect(row.inserted_at).toBeInstanceOf(Date);
    expect(row.raw).toEqual(answered?.raw);
    expect(row.raw.from).toBe(440000000002);

    const piopiy = byName.get('piopiy-cdr-inbound-missed-leg-a.json');
    const { rows: piopiyRows } = await admin.query(
      `SELECT provider, leg, started_at, answered_at, ended_at, answered_sec, extra_params, raw
       FROM ${table} WHERE id = $1`,
      [piopiy?.id],
    );
    expect(piopiyRows[0]).toEqual({
      provider: 'piopiy',
      leg: 'a',
      started_at: new Date(1632317068_000),
      answered_at: new Date(1632318515_000),
      ended_at: new Date(1632317073_000),
      answered_sec: 0,
      extra_params: { key: 'value' },
      raw: piopiy?.raw,
    });
  });

  it('keeps one row when the same event is delivered twice, one after the other', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 10, waitMs: 5 } }));
    const e = event(loadSample('chub-cdr-incoming-answered'));
    await destination.deliver(e, context);
    await destination.deliver(e, { ...context, attempt: 2 });
    expect(await count(table)).toBe(1);
  });

  it('keeps one row when the same event is delivered twice in one batch; both deliveries succeed', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 3, waitMs: 60_000 } }));
    const [a, b] = manyEvents(2) as [CallEvent, CallEvent];
    // Size 3: the batch is flushed by the third delivery, so all three are in it.
    await Promise.all([
      destination.deliver(a, context),
      destination.deliver(b, context),
      destination.deliver(a, context),
    ]);
    expect(await count(table)).toBe(2);
    const { rows } = await admin.query(`SELECT count(DISTINCT inserted_at)::int AS n FROM ${table}`);
    expect(rows[0]?.n).toBe(1);
  });

  it('writes 1,200 concurrent deliveries in batches of at most 500', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 500, waitMs: 50 } }));
    const events = manyEvents(1_200);
    await Promise.all(events.map((e) => destination.deliver(e, context)));
    expect(await count(table)).toBe(1_200);
    // Each batch is one statement, so one transaction: its rows share `inserted_at` (now()).
    const { rows } = await admin.query<{ inserted_at: Date; n: number }>(
      `SELECT inserted_at, count(*)::int AS n FROM ${table} GROUP BY inserted_at ORDER BY inserted_at`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) expect(row.n).toBeLessThanOrEqual(500);
  });

  it('fails only the delivery with a NUL byte in a text field, for good, with postgres’s message', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 10, waitMs: 60_000 } }));
    const events = manyEvents(10);
    const poisoned = { ...events[6], user: 'agent\u0000' } as CallEvent;
    events[6] = poisoned;
    const outcomes = await Promise.allSettled(events.map((e) => destination.deliver(e, context)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      ...Array(6).fill('fulfilled'),
      'rejected',
      ...Array(3).fill('fulfilled'),
    ]);
    const error = (outcomes[6] as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe('postgres: invalid byte sequence for encoding "UTF8": 0x00');
    expect(await count(table)).toBe(9);
    const { rows } = await admin.query(`SELECT 1 FROM ${table} WHERE id = $1`, [poisoned.id]);
    expect(rows).toHaveLength(0);
  });

  it('fails only the deliveries with a NUL byte in raw, the rest of the batch written', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 100, waitMs: 60_000 } }));
    const events = manyEvents(100);
    const bad = new Set([0, 41, 42, 99]);
    for (const index of bad) {
      const e = events[index] as CallEvent;
      events[index] = { ...e, raw: { ...e.raw, note: 'x\u0000y' } };
    }
    const outcomes = await Promise.allSettled(events.map((e) => destination.deliver(e, context)));
    outcomes.forEach((outcome, index) => {
      if (!bad.has(index)) {
        expect(outcome.status).toBe('fulfilled');
        return;
      }
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(DeliveryError);
      expect(reason.retryable).toBe(false);
      expect(reason.message).toBe('postgres: unsupported Unicode escape sequence');
    });
    expect(await count(table)).toBe(96);
  });

  it('fails an invalid timestamp alone, for good', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 2, waitMs: 60_000 } }));
    const [good, e] = manyEvents(2) as [CallEvent, CallEvent];
    const bad = { ...e, startedAt: 'not a time' };
    const [first, second] = await Promise.allSettled([
      destination.deliver(good, context),
      destination.deliver(bad, context),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    const error = (second as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'postgres: invalid input syntax for type timestamp with time zone: "not a time"',
    );
    expect(await count(table)).toBe(1);
  });

  it('gives a retryable error when the database cannot be reached', async () => {
    const destination = create(
      config(newTable(), { url: 'postgres://postgres@127.0.0.1:1/test', batch: { size: 10, waitMs: 5 } }),
    );
    const error = await deliveryError(destination.deliver(manyEvents(1)[0] as CallEvent, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^postgres: .*ECONNREFUSED/);
  });

  it('gives a retryable error to the whole batch on a statement timeout, then writes on retry', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 3, waitMs: 20 }, timeoutMs: 200 }));
    const events = manyEvents(3);
    await destination.deliver(manyEvents(1)[0] as CallEvent, context); // creates the table
    const locker = await admin.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const outcomes = await Promise.allSettled(events.map((e) => destination.deliver(e, context)));
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        const reason = (outcome as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(DeliveryError);
        expect(reason.retryable).toBe(true);
        expect(reason.message).toBe('postgres: canceling statement due to statement timeout');
      }
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    await Promise.all(events.map((e) => destination.deliver(e, { ...context, attempt: 2 })));
    expect(await count(table)).toBe(4);
  });

  it('gives a retryable error when the server terminates the connection (57P01)', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 1, waitMs: 0 } }));
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    const locker = await admin.connect();
    let pending: Promise<DeliveryError> | undefined;
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      pending = deliveryError(destination.deliver(manyEvents(1)[0] as CallEvent, context));
      // Wait until the insert is blocked on the lock, then terminate its backend.
      await expect
        .poll(async () => {
          const { rows } = await admin.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
             WHERE state = 'active' AND query LIKE $1`,
            [`INSERT INTO "${table}"%`],
          );
          return rows.length;
        })
        .toBe(1);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    const error = await pending;
    expect(error?.retryable).toBe(true);
    expect(error?.message).toBe('postgres: terminating connection due to administrator command');
    // The pool replaces the connection.
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    expect(await count(table)).toBe(2);
  });

  it('an idle connection the server ends is one warning naming why, without a stack trace', async () => {
    const table = newTable();
    const { logger: capturing, lines } = capturingLogger();
    const cfg = { ...config(table, { batch: { size: 1, waitMs: 0 } }), name: `idle-${hex()}` };
    const destination = postgresDestination.create(cfg, capturing);
    destinations.push(destination);
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle'`,
      [`cdr-forwarder/${cfg.name}`],
    );
    await expect
      .poll(() => lines().filter((line) => line.msg === 'postgres: idle connection failed'))
      .toEqual([
        expect.objectContaining({
          level: 40,
          error: 'terminating connection due to administrator command',
          table,
        }),
      ]);
    expect(lines().find((line) => line.msg === 'postgres: idle connection failed')).not.toHaveProperty('err');
    // The next delivery opens a new connection.
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    expect(await count(table)).toBe(2);
  });

  it('creates the table again when it was dropped', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 1, waitMs: 0 } }));
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    await admin.query(`DROP TABLE ${table}`);
    const error = await deliveryError(destination.deliver(manyEvents(1)[0] as CallEvent, context));
    expect(error.retryable).toBe(true);
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    expect(await count(table)).toBe(1);
  });

  it('adds the columns that a table made by an earlier version lacks, keeping its rows', async () => {
    const table = newTable();
    const first = create(config(table, { batch: { size: 1, waitMs: 0 } }));
    const [old, next] = manyEvents(2) as [CallEvent, CallEvent];
    await first.deliver(old, context);
    await admin.query(`ALTER TABLE ${table} DROP COLUMN caller_id, DROP COLUMN ivr_name`);
    // A process started after the upgrade finds the table short of two columns.
    const upgraded = create(config(table, { batch: { size: 1, waitMs: 0 } }));
    await upgraded.deliver(next, context);
    const { rows } = await admin.query<{ id: string; ivr_name: string | null }>(
      `SELECT id, ivr_name FROM ${table} ORDER BY received_at, id`,
    );
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set([old.id, next.id]));
    expect(rows.find((row) => row.id === next.id)?.ivr_name).toBe('salesivr');
    expect(rows.find((row) => row.id === old.id)?.ivr_name).toBeNull();
  });

  it('adds a column dropped while it runs, after one retryable failure', async () => {
    const table = newTable();
    const destination = create(config(table, { batch: { size: 1, waitMs: 0 } }));
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    await admin.query(`ALTER TABLE ${table} DROP COLUMN team`);
    const error = await deliveryError(destination.deliver(manyEvents(1)[0] as CallEvent, context));
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/column "team" .*does not exist/);
    await destination.deliver(manyEvents(1)[0] as CallEvent, context);
    expect(await count(table)).toBe(2);
  });

  it('a role that may only write: writes into a complete table, and says how to add a missing column', async () => {
    const table = newTable();
    const role = `cdrf_writer_${hex()}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    const asWriter = URL.replace('postgres://postgres@', `postgres://${role}@`);
    const writerConfig = config(table, { url: asWriter, batch: { size: 1, waitMs: 0 } });
    try {
      // The owner's forwarder made the table; the role has SELECT and INSERT on it, and no right to
      // create anything in the schema (PostgreSQL 15's default for public).
      await create(config(table, { batch: { size: 1, waitMs: 0 } })).deliver(
        manyEvents(1)[0] as CallEvent,
        context,
      );
      await admin.query(`GRANT SELECT, INSERT ON ${table} TO ${role}`);
      await create(writerConfig).deliver(manyEvents(1)[0] as CallEvent, context);
      expect(await count(table)).toBe(2);

      // No table at all, and no right to create one: says so, and what to do.
      const absent = `${table}_absent`;
      const noTable = await deliveryError(
        create({ ...writerConfig, table: absent }).deliver(manyEvents(1)[0] as CallEvent, context),
      );
      expect(noTable.retryable).toBe(true);
      expect(noTable.message).toBe(
        `postgres: table ${absent} does not exist and this role may not create it ` +
          '(permission denied for schema public); have its owner create it (a forwarder that connects as the owner does), ' +
          'or grant this role CREATE on the schema',
      );

      // An upgrade that writes a column the table lacks (here: one dropped to stand for it).
      await admin.query(`ALTER TABLE ${table} DROP COLUMN voicemail`);
      const upgraded = create(writerConfig);
      const error = await deliveryError(upgraded.deliver(manyEvents(1)[0] as CallEvent, context));
      expect(error.retryable).toBe(true);
      expect(error.message).toBe(
        `postgres: table ${table} lacks the columns voicemail and they could not be added ` +
          `(must be owner of table ${table}); have its owner run: ` +
          `ALTER TABLE "${table}" ADD COLUMN IF NOT EXISTS "voicemail" text`,
      );
      // Once the owner has run it, the retry writes.
      await admin.query(`ALTER TABLE "${table}" ADD COLUMN IF NOT EXISTS "voicemail" text`);
      await upgraded.deliver(manyEvents(1)[0] as CallEvent, context);
      expect(await count(table)).toBe(3);
    } finally {
      await Promise.allSettled(destinations.splice(-4).map((destination) => destination.close()));
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  it('lets two destinations create the same table at the same moment', async () => {
    for (let round = 0; round < 5; round += 1) {
      const table = newTable();
      const cfg = config(table, { batch: { size: 1, waitMs: 0 } });
      const [a, b, c] = [create(cfg), create(cfg), create(cfg)];
      const events = manyEvents(3) as [CallEvent, CallEvent, CallEvent];
      await Promise.all([
        a.deliver(events[0], context),
        b.deliver(events[1], context),
        c.deliver(events[2], context),
      ]);
      expect(await count(table)).toBe(3);
    }
  });

  it('close() writes what is waiting, then ends the pool', async () => {
    const table = newTable();
    const destination = postgresDestination.create(
      config(table, { batch: { size: 100, waitMs: 60_000 } }),
      logger,
    );
    const delivered = Promise.all(manyEvents(5).map((e) => destination.deliver(e, context)));
    await destination.close();
    await delivered;
    expect(await count(table)).toBe(5);
    await destination.close(); // idempotent
  });
});
