import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { DestinationConfig, type DestinationConfigOf } from '../../src/config/index.ts';
import { fileDestination } from '../../src/destinations/file/index.ts';
import { StartupError } from '../../src/ops/startup-error.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { listSamples, sampleEvent } from '../helpers/samples.ts';

const logger = pino({ level: 'silent' });

function archiveConfig(path: string): DestinationConfigOf<'file'> {
  return v.parse(DestinationConfig, { name: 'archive', type: 'file', path }) as DestinationConfigOf<'file'>;
}

function eventAt(name: string, receivedAt: Date): CallEvent {
  return sampleEvent(name, { receivedAt });
}

describe('file destination', () => {
  it('appends one JSON line per event to one file per UTC day', async () => {
    const folder = join(mkdtempSync(join(tmpdir(), 'cdrf-archive-')), 'nested', 'archive');
    const config = archiveConfig(folder);
    const archive = fileDestination.create(config, logger);
    const day1 = new Date('2026-11-23T23:59:59.500Z');
    const day2 = new Date('2026-11-24T00:00:00.100Z');
    const names = listSamples();
    const events = names.flatMap((name) => [eventAt(name, day1), eventAt(name, day2)]);
    await Promise.all(events.map((event) => archive.deliver(event, { attempt: 1, logger })));
    await archive.close();

    expect(readdirSync(folder).sort()).toEqual(['2026-11-23.ndjson', '2026-11-24.ndjson']);
    const lines = readFileSync(join(folder, '2026-11-23.ndjson'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(names.length);
    expect(lines.map((line) => JSON.parse(line))).toEqual(
      events.filter((event) => event.receivedAt.startsWith('2026-11-23')),
    );
  });

  it('keeps appending across restarts', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cdrf-archive-'));
    const config = archiveConfig(folder);
    const at = new Date('2026-11-24T10:00:00Z');
    for (const name of ['chub-cdr-incoming-answered', 'chub-cdr-incoming-missed']) {
      const archive = fileDestination.create(config, logger);
      await archive.deliver(eventAt(name, at), { attempt: 1, logger });
      await archive.close();
    }
    const lines = readFileSync(join(folder, '2026-11-24.ndjson'), 'utf8').trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as CallEvent).status)).toEqual(['answered', 'missed']);
  });

  it('will not start on a folder it cannot write, saying why and which key to change', () => {
    const base = mkdtempSync(join(tmpdir(), 'cdrf-archive-'));
    writeFileSync(join(base, 'afile'), 'not a folder');
    const config = archiveConfig(join(base, 'afile', 'archive'));
    const started = () => fileDestination.create(config, logger);
    expect(started).toThrow(StartupError);
    expect(started).toThrow(
      `destination archive: cannot write to its path ${join(base, 'afile', 'archive')} (ENOTDIR: a file stands where a folder is needed); make it a writable folder, or set its path to one`,
    );
  });

  it('writes again once its folder is back, without a restart', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cdrf-archive-'));
    const config = archiveConfig(folder);
    const archive = fileDestination.create(config, logger);
    // The folder taken away after the start (a volume unmounted), a file in its place.
    rmSync(folder, { recursive: true });
    writeFileSync(folder, 'in the way');
    const at = new Date('2026-11-24T10:00:00Z');
    await expect(
      archive.deliver(eventAt('chub-cdr-incoming-answered', at), { attempt: 1, logger }),
    ).rejects.toThrow(/ENOTDIR|EEXIST/);
    rmSync(folder);
    mkdirSync(folder);
    await archive.deliver(eventAt('chub-cdr-incoming-missed', at), { attempt: 2, logger });
    await archive.close();
    expect(readFileSync(join(folder, '2026-11-24.ndjson'), 'utf8').trimEnd().split('\n')).toHaveLength(1);
  });
});
