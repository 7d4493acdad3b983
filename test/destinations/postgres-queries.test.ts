import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import pino from 'pino';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import { postgresDestination } from '../../src/destinations/postgres/index.ts';
import { PG_URL } from '../helpers/pipeline.ts';
import { listSamples, sampleEvent } from '../helpers/samples.ts';

/** The SQL blocks of README's "Querying the warehouse", in order. */
function readmeQueries(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('##### Querying the warehouse');
  const section = readme.slice(start, readme.indexOf('\n####', start + 1));
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1] as string);
}

describe("README's warehouse queries, on every TeleCMI sample", () => {
  const table = `q_${randomBytes(4).toString('hex')}`;
  const db = new pg.Client({ connectionString: PG_URL });
  const run = async (sql: string) => (await db.query(sql.replaceAll('telecmi_call_events', table))).rows;
  let queries: string[];

  beforeAll(async () => {
    await db.connect();
    const config = v.parse(DestinationConfig, {
      name: 'warehouse',
      type: 'postgres',
      url: PG_URL,
      table,
      batch: { size: 100, waitMs: 0 },
    }) as DestinationConfigOf<'postgres'>;
    const warehouse = postgresDestination.create(config, pino({ level: 'silent' }));
    const context = { attempt: 1, logger: pino({ level: 'silent' }) };
    await Promise.all(listSamples().map((name) => warehouse.deliver(sampleEvent(name), context)));
    await warehouse.close();
    queries = readmeQueries();
  });
  afterAll(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  });

  it('has the four queries', () => {
    expect(queries).toHaveLength(4);
  });

  it('missed incoming calls per day and team: the calls, not the agents who missed them', async () => {
    const rows = await run(queries[0] as string);
    expect(rows.map((row) => ({ ...row, day: (row.day as Date).toISOString().slice(0, 10) }))).toEqual([
      // PIOPIY's, with no team; then CHUB's (its "user missed" CDR of leg b left out).
      { day: '2021-09-22', team: null, missed: '1' },
      { day: '2021-10-20', team: 'Sales_2222223', missed: '1' },
    ]);
  });

  it('answered calls per agent, an outgoing call counted once', async () => {
    expect(await run(queries[1] as string)).toEqual([
      { user_id: '202_2222223', calls: '1', avg_answered_sec: 15 },
      { user_id: '204_2222223', calls: '1', avg_answered_sec: 11 },
    ]);
  });

  it('the legs of outgoing CHUB calls, joined by TeleCMI call_id', async () => {
    const rows = await run(queries[2] as string);
    expect(rows.map((row) => [row.chub_call_id, row.status, row.leg])).toEqual([
      ['c4504776-d91e-123b-29a7-56000429abc3', 'answered', 'a'],
      ['c4504776-d91e-123b-29a7-56000429abc3', 'answered', 'b'],
      ['c4504776-d91e-123b-29a7-56000429abc3', 'missed', 'a'],
      ['c4504776-d91e-123b-29a7-56000429abc3', 'missed', 'b'],
    ]);
    // Phone numbers as TeleCMI sent them, every digit.
    expect(rows[0]?.to_number).toBe('442000000000');
  });

  it('everything of one incoming call: its live events, the caller and the agent legs', async () => {
    const rows = await run(queries[3] as string);
    // (The documented samples are not of one moment: their times are not in the call's order.)
    expect(rows.map((row) => `${row.kind} ${row.status} ${row.leg ?? '-'} ${row.direction}`).sort()).toEqual([
      'event answered - inbound',
      'event answered b outbound',
      'event hangup - inbound',
      'event hangup b outbound',
      'event started b outbound',
      'event waiting - inbound',
    ]);
  });
});
