import { accessSync, constants, mkdirSync } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { DestinationConfigOf } from '../../config/index.ts';
import { StartupError } from '../../ops/startup-error.ts';
import type { CallEvent } from '../../telecmi/index.ts';
import { Batcher, keepBusyConcurrency } from '../batcher.ts';
import type { Destination, DestinationType } from '../types.ts';

type FileConfig = DestinationConfigOf<'file'>;

const BATCH = { size: 500, waitMs: 20 };

/** `2026-11-24.ndjson`: the UTC day the event was received. */
export function archiveFileName(event: CallEvent): string {
  return `${event.receivedAt.slice(0, 10)}.ndjson`;
}

/**
 * The archive: one JSON line per event, appended to one file per UTC day. Each batch is written
 * with one `write` and `fsync`ed before any of its deliveries is acknowledged, so an acknowledged
 * line is on disk. A retry after a crash between the fsync and the acknowledgement can repeat a
 * line; every line carries the event `id`, so readers de-duplicate on it.
 */
class FileArchive implements Destination {
  readonly #folder: string;
  readonly #batcher: Batcher<CallEvent>;
  #handle: { name: string; file: FileHandle } | undefined;
  #ready: Promise<unknown> | undefined;

  constructor(config: FileConfig) {
    this.#folder = config.path;
    this.#batcher = new Batcher({ ...BATCH, flush: (events) => this.#append(events) });
    assertWritableFolder(config);
  }

  deliver(event: CallEvent): Promise<void> {
    return this.#batcher.add(event);
  }

  async close(): Promise<void> {
    await this.#batcher.drain();
    await this.#handle?.file.close();
    this.#handle = undefined;
  }

  async #append(events: CallEvent[]): Promise<undefined[]> {
    // Tried again by the next batch should it fail: the folder may be back by then.
    this.#ready ??= mkdir(this.#folder, { recursive: true }).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    await this.#ready;
    const byFile = new Map<string, string[]>();
    for (const event of events) {
      const name = archiveFileName(event);
      const lines = byFile.get(name) ?? [];
      lines.push(`${JSON.stringify(event)}\n`);
      byFile.set(name, lines);
    }
    for (const [name, lines] of byFile) {
      const file = await this.#fileFor(name);
      await file.write(lines.join(''));
      await file.sync();
    }
    return events.map(() => undefined);
  }

  async #fileFor(name: string): Promise<FileHandle> {
    if (this.#handle?.name === name) return this.#handle.file;
    await this.#handle?.file.close();
    const file = await open(join(this.#folder, name), 'a');
    this.#handle = { name, file };
    return file;
  }
}

/** What stands in the way of writing in a folder, in words. */
const WHY: Record<string, string> = {
  ENOTDIR: 'a file stands where a folder is needed',
  EEXIST: 'a file stands where the folder should be',
  EACCES: 'this user may not write there',
  EPERM: 'this user may not write there',
  EROFS: 'the file system is read-only',
};

/**
 * The archive's folder, made if missing and checked writable when its worker starts: a path that
 * cannot be written stops the start with one line, rather than failing every delivery for a day.
 */
function assertWritableFolder(config: FileConfig): void {
  try {
    mkdirSync(config.path, { recursive: true });
    accessSync(config.path, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new StartupError(
      `cannot write to its path ${config.path} (${code}${WHY[code] ? `: ${WHY[code]}` : ''}); make it a writable folder, or set its path to one`,
      `destination ${config.name}`,
    );
  }
}

export const fileDestination: DestinationType<FileConfig> = {
  timeoutMs: () => 30_000,
  // One batch being written and fsynced, the next one filling.
  defaultConcurrency: () => keepBusyConcurrency(BATCH),
  create: (config) => new FileArchive(config),
};
