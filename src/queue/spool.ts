import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallEvent } from '../telecmi/index.ts';
import { GroupCommit } from './group-commit.ts';

const ACTIVE = 'spool.ndjson';
const DRAINING = 'spool.draining.ndjson';

/**
 * The receiver's fallback store while Redis is away: call events appended as JSON lines to one file
 * and fsynced before the notification is acknowledged. When Redis is back the spool is drained into
 * the ingest queue in order (the event id de-duplicates whatever had already made it) and deleted.
 *
 * Draining first renames the file, so that events spooled meanwhile go to a fresh one; a drain that
 * fails half-way leaves the renamed file, and the next drain starts with it again.
 */
export class Spool {
  readonly #dir: string;
  #file: FileHandle | undefined;
  #depth = 0;
  /** The ids of the events held, so that a resend during the outage is recognised here. */
  readonly #ids = new Set<string>();
  /** Appends that arrive during a write share the next write and fsync. */
  readonly #commits = new GroupCommit<string, undefined>((lines) => this.#write(lines));
  #draining: Promise<number> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
    for (const file of [DRAINING, ACTIVE]) {
      for (const event of readEvents(join(dir, file))) {
        this.#depth += 1;
        this.#ids.add(event.id);
      }
    }
  }

  /** Events stored here and not yet in Redis. */
  get depth(): number {
    return this.#depth;
  }

  /**
   * Resolves once the event is on disk (written and fsynced); concurrent appends share one fsync.
   * An event whose id the spool holds already is not written again: `{duplicate: true}`.
   */
  async append(event: CallEvent): Promise<{ duplicate: boolean }> {
    if (this.#ids.has(event.id)) return { duplicate: true };
    this.#ids.add(event.id);
    try {
      await this.#commits.submit(`${JSON.stringify(event)}\n`);
    } catch (error) {
      this.#ids.delete(event.id);
      throw error;
    }
    return { duplicate: false };
  }

  async #write(lines: string[]): Promise<undefined[]> {
    try {
      this.#file ??= await open(join(this.#dir, ACTIVE), 'a');
      await this.#file.write(lines.join(''));
      await this.#file.sync();
    } catch (error) {
      // The next append tries a fresh handle (the disk may have been remounted or freed).
      await this.#file?.close().catch(() => {});
      this.#file = undefined;
      throw error;
    }
    this.#depth += lines.length;
    return lines.map(() => undefined);
  }

  /**
   * Hands every spooled event, oldest first, to `store` in chunks, then deletes what was stored.
   * Resolves with how many were handed over; one drain at a time.
   */
  drain(store: (events: CallEvent[]) => Promise<unknown>, chunkSize = 500): Promise<number> {
    this.#draining ??= this.#drain(store, chunkSize).finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drain(store: (events: CallEvent[]) => Promise<unknown>, chunkSize: number): Promise<number> {
    const draining = join(this.#dir, DRAINING);
    if (!exists(draining)) {
      if (this.#depth === 0 || !exists(join(this.#dir, ACTIVE))) return 0;
      // Appends in progress finish on the old handle before the rename; new ones open a new file.
      while (this.#commits.busy) await new Promise((resolve) => setImmediate(resolve));
      await this.#file?.close();
      this.#file = undefined;
      renameSync(join(this.#dir, ACTIVE), draining);
    }
    const events = readEvents(draining);
    for (let start = 0; start < events.length; start += chunkSize) {
      await store(events.slice(start, start + chunkSize));
    }
    rmSync(draining);
    this.#depth = Math.max(0, this.#depth - events.length);
    for (const event of events) this.#ids.delete(event.id);
    return events.length;
  }

  async close(): Promise<void> {
    while (this.#commits.busy) await new Promise((resolve) => setImmediate(resolve));
    await this.#file?.close();
    this.#file = undefined;
  }
}

function exists(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function readEvents(file: string): CallEvent[] {
  if (!exists(file)) return [];
  const events: CallEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      events.push(JSON.parse(line) as CallEvent);
    } catch {
      // Only the last line can be torn (a crash mid-write, before its fsync): that notification
      // was never acknowledged, so TeleCMI sends it again.
    }
  }
  return events;
}
