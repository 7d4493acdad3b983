import pg from 'pg';
import type { DestinationConfigOf } from '../../config/index.ts';
import type { Logger } from '../../ops/logger.ts';
import type { CallEvent } from '../../telecmi/index.ts';
import { Batcher, keepBusyConcurrency } from '../batcher.ts';
import { DeliveryError, type Destination, type DestinationType } from '../types.ts';
import { eventToRow, type Row } from './rows.ts';
import {
  addColumnStatements,
  batchParameters,
  createTableStatement,
  indexStatements,
  insertBatchStatement,
  quoteIdentifier,
  quoteTable,
  schemaOf,
  TABLE_COLUMNS_QUERY,
  WRITTEN_COLUMNS,
} from './table.ts';

export { COLUMNS, type ColumnType, eventToRow, type Row, type RowValue } from './rows.ts';
export { quoteIdentifier, quoteTable } from './table.ts';

type PostgresConfig = DestinationConfigOf<'postgres'>;

interface Pending {
  id: string;
  row: Row;
}

/** Connections per destination: one per batch in flight, one spare for table creation. */
const PARALLEL_BATCHES = 3;
const POOL_SIZE = PARALLEL_BATCHES + 1;

/** How deliveries are gathered and written: the batcher's settings, and the worker's concurrency from them. */
function batchShape(config: PostgresConfig) {
  return { size: config.batch.size, waitMs: config.batch.waitMs, parallel: PARALLEL_BATCHES };
}

/**
 * SQLSTATE classes a single row can cause: data exceptions (22: a NUL byte, a bad timestamp, a
 * number out of range), integrity violations (23: a constraint someone added) and program limits
 * (54: an index row too big). Retrying such a row cannot help; the batch is split to find it.
 */
const ROW_ERROR_CLASSES = new Set(['22', '23', '54']);

/**
 * `CREATE ... IF NOT EXISTS` racing another process: unique_violation (on pg_type), duplicate_table,
 * duplicate_object (`type "<table>" already exists`, from the table's row type; seen in a test run),
 * or duplicate_schema.
 */
const ALREADY_CREATED = new Set(['23505', '42P07', '42710', '42P06']);
/** `permission denied`: the role may not create what is missing. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** Rows start with their id (the first column). */
function compareIds(a: Row | undefined, b: Row | undefined): number {
  const left = String(a?.[0]);
  const right = String(b?.[0]);
  return left < right ? -1 : left > right ? 1 : 0;
}

function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}

/** An error caused by the rows themselves, not by the connection, the server or the schema. */
export function isRowError(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && ROW_ERROR_CLASSES.has(code.slice(0, 2));
}

/** `postgres: <the database's message>`; a refused connection to several addresses has an empty one. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(describe).join('; ');
  }
  if (error instanceof Error) {
    return error.message || ((error as NodeJS.ErrnoException).code ?? error.name);
  }
  return String(error);
}

function deliveryError(error: unknown, retryable: boolean): DeliveryError {
  if (error instanceof DeliveryError) return error;
  return new DeliveryError(`postgres: ${describe(error)}`, { retryable, cause: error });
}

/**
 * The warehouse: one row per event in one table, `ON CONFLICT (id) DO NOTHING`, so a redelivery is
 * harmless. Deliveries are gathered into batches, each written with one statement. When PostgreSQL
 * rejects a batch because of a row (a data error), the batch is bisected until the bad rows are
 * found: the others are written and only the bad rows' deliveries fail, for good. Any other error
 * (connection, timeout, shutdown, serialization, schema) fails the whole batch, to be retried.
 */
class PostgresWarehouse implements Destination {
  readonly #table: string;
  readonly #insertSql: string;
  readonly #logger: Logger;
  readonly #pool: pg.Pool;
  readonly #batcher: Batcher<Pending>;
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(config: PostgresConfig, logger: Logger) {
    this.#table = config.table;
    this.#insertSql = insertBatchStatement(config.table);
    this.#logger = logger;
    this.#pool = new pg.Pool({
      connectionString: config.url,
      max: POOL_SIZE,
      statement_timeout: config.timeoutMs,
      connectionTimeoutMillis: config.timeoutMs,
      application_name: `cdr-forwarder/${config.name}`.slice(0, 63),
    });
    // An idle connection the server drops (restart, idle timeout) must not crash the process:
    // the pool discards it and the next query opens a new one.
    this.#pool.on('error', (error) => {
      this.#logger.warn({ error: error.message, table: this.#table }, 'postgres: idle connection failed');
    });
    this.#batcher = new Batcher<Pending>({
      // Several batches in flight keep the server busy while the next one is being encoded.
      ...batchShape(config),
      flush: (items) => this.#write(items),
    });
  }

  async deliver(event: CallEvent): Promise<void> {
    let row: Row;
    try {
      row = eventToRow(event);
    } catch (error) {
      throw new DeliveryError(`postgres: cannot convert the event to a row: ${describe(error)}`, {
        retryable: false,
        cause: error,
      });
    }
    return this.#batcher.add({ id: event.id, row });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#batcher.drain();
      } finally {
        await this.#pool.end();
      }
    })();
    return this.#closing;
  }

  /** Makes the table ready once (see {@link #prepareTable}); a failure is retried by the next batch. */
  #ensureTable(): Promise<void> {
    this.#ready ??= this.#prepareTable().catch((error: unknown) => {
      this.#ready = undefined;
      throw deliveryError(error, true);
    });
    return this.#ready;
  }

  /**
   * A missing table is created with its indexes. An existing one (made by an earlier version, by
   * hand, or by its owner for a role that may only write) is left as it is, except that the columns
   * this version writes and it lacks are added. Only what is missing is created, so a role with
   * nothing but SELECT and INSERT on a complete table needs no other right.
   */
  async #prepareTable(): Promise<void> {
    const columns = await this.#columns();
    if (columns.size === 0) {
      // Only a missing schema is created: CREATE SCHEMA IF NOT EXISTS asks for the right to create
      // one in the database first, which a role that may create tables in it need not have.
      const schema = schemaOf(this.#table);
      const schemaMissing = schema !== undefined && !(await this.#schemaExists(schema));
      try {
        await this.#create([
          ...(schemaMissing ? [`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`] : []),
          createTableStatement(this.#table),
          ...indexStatements(this.#table).map((i) => i.statement),
        ]);
      } catch (error) {
        if (sqlState(error) !== INSUFFICIENT_PRIVILEGE) throw error;
        const right = schemaMissing
          ? `CREATE on the database (for the schema ${schema})`
          : 'CREATE on the schema';
        throw new Error(
          `table ${this.#table} does not exist and this role may not create it (${describe(error)}); ` +
            `have its owner create it (a forwarder that connects as the owner does), or grant this role ${right}`,
          { cause: error },
        );
      }
      return;
    }
    await this.#addMissingColumns(columns);
    await this.#addMissingIndexes();
  }

  async #schemaExists(schema: string): Promise<boolean> {
    const { rows } = await this.#pool.query<{ found: string | null }>('SELECT to_regnamespace($1) AS found', [
      quoteIdentifier(schema),
    ]);
    return Boolean(rows[0]?.found);
  }

  /** The table's columns; none when it does not exist. */
  async #columns(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ name: string }>(TABLE_COLUMNS_QUERY, [quoteTable(this.#table)]);
    return new Set(rows.map(({ name }) => name));
  }

  async #create(statements: string[]): Promise<void> {
    // One statement at a time, outside a transaction: when another process creates the same table
    // or index at the same moment, ours fails with a unique violation once theirs is committed.
    for (const statement of statements) {
      try {
        await this.#pool.query(statement);
      } catch (error) {
        if (!ALREADY_CREATED.has(sqlState(error) ?? '')) throw error;
      }
    }
  }

  /**
   * Columns a newer version writes, added nullable so the rows already there stay as they were.
   * Without the right to alter the table, the error names the columns and the statements for its
   * owner to run.
   */
  async #addMissingColumns(present: Set<string>): Promise<void> {
    const missing = WRITTEN_COLUMNS.filter((name) => !present.has(name));
    if (missing.length === 0) return;
    const statements = addColumnStatements(this.#table, missing);
    try {
      for (const statement of statements) await this.#pool.query(statement);
    } catch (error) {
      throw new Error(
        `table ${this.#table} lacks the columns ${missing.join(', ')} and they could not be added ` +
          `(${describe(error)}); have its owner run: ${statements.join('; ')}`,
        { cause: error },
      );
    }
    this.#logger.info({ table: this.#table, columns: missing }, 'postgres: added missing columns');
  }

  /** Indexes speed up reading, not writing: one that cannot be created is a warning, not a failure. */
  async #addMissingIndexes(): Promise<void> {
    for (const { name, statement } of indexStatements(this.#table)) {
      const { rows } = await this.#pool.query<{ found: string | null }>('SELECT to_regclass($1) AS found', [
        name,
      ]);
      if (rows[0]?.found) continue;
      try {
        await this.#create([statement]);
      } catch (error) {
        this.#logger.warn(
          { table: this.#table, error: describe(error), statement },
          'postgres: an index is missing and could not be created; have the table owner run the statement',
        );
      }
    }
  }

  async #write(items: Pending[]): Promise<(Error | undefined)[]> {
    await this.#ensureTable();
    // The same event twice in one batch (a retry racing its first attempt): one row, both succeed.
    const slotOf = new Map<string, number>();
    const rows: Row[] = [];
    const slots = items.map(({ id, row }) => {
      let slot = slotOf.get(id);
      if (slot === undefined) {
        slot = rows.push(row) - 1;
        slotOf.set(id, slot);
      }
      return slot;
    });
    // Rows in id order: two batches in flight that share ids then lock them in the same order,
    // so they wait for each other instead of deadlocking.
    const order = rows.map((_, index) => index).sort((a, b) => compareIds(rows[a], rows[b]));
    const outcomes = await this.#insertIsolating(order.map((index) => rows[index] as Row));
    const outcomeOfRow: (Error | undefined)[] = new Array(rows.length);
    order.forEach((rowIndex, position) => {
      outcomeOfRow[rowIndex] = outcomes[position];
    });
    return slots.map((slot) => outcomeOfRow[slot]);
  }

  /**
   * Inserts `rows` with one statement; on a row error, bisects (each half its own statement, so good
   * halves are committed) down to the single bad rows. `O(bad rows x log(batch))` statements.
   */
  async #insertIsolating(rows: Row[]): Promise<(Error | undefined)[]> {
    const outcomes: (Error | undefined)[] = new Array(rows.length).fill(undefined);
    let fatal: DeliveryError | undefined;
    const attempt = async (start: number, end: number): Promise<void> => {
      if (fatal) {
        outcomes.fill(fatal, start, end);
        return;
      }
      try {
        await this.#insert(rows.slice(start, end));
      } catch (error) {
        if (!isRowError(error)) {
          // Dropped, or altered since: create it again or add its columns again.
          if (sqlState(error) === '42P01' || sqlState(error) === '42703') this.#ready = undefined;
          fatal = deliveryError(error, true);
          outcomes.fill(fatal, start, end);
        } else if (end - start === 1) {
          this.#logger.warn(
            { err: error, table: this.#table, eventId: rows[start]?.[0] },
            'postgres: row rejected',
          );
          outcomes[start] = deliveryError(error, false);
        } else {
          const middle = start + Math.ceil((end - start) / 2);
          await attempt(start, middle);
          await attempt(middle, end);
        }
      }
    };
    await attempt(0, rows.length);
    return outcomes;
  }

  async #insert(rows: Row[]): Promise<void> {
    await this.#pool.query(this.#insertSql, batchParameters(rows));
  }
}

export const postgresDestination: DestinationType<PostgresConfig> = {
  // A statement, plus the wait for the batch to fill.
  timeoutMs: (config) => config.timeoutMs + config.batch.waitMs,
  // Enough deliveries in flight for every batch being written and the next one filling.
  defaultConcurrency: (config) => keepBusyConcurrency(batchShape(config)),
  create: (config, logger) => new PostgresWarehouse(config, logger),
};
