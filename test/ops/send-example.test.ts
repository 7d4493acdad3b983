import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { runScript, writeTempConfig } from '../helpers/process.ts';
import { Sink } from '../helpers/sink.ts';

describe('npm run send-example', () => {
  let crm: Sink;
  let refusing: Sink;
  let down: Sink;
  let archiveDir: string;
  let configFile: string;
  const sendExample = (...args: string[]) => runScript('scripts/send-example.ts', configFile, args);

  beforeAll(async () => {
    crm = await Sink.start();
    refusing = await Sink.start();
    refusing.respond = () => ({ status: 401, body: 'invalid api key' });
    down = await Sink.start();
    down.respond = () => ({ status: 503, body: 'maintenance' });
    archiveDir = mkdtempSync(join(tmpdir(), 'cdrf-example-'));
    writeFileSync(join(archiveDir, 'afile'), 'in the way');
    // No Redis in this config's reach: the example goes straight to each destination.
    configFile = writeTempConfig(`redis: {url: "redis://127.0.0.1:1"}
destinations:
  - {name: crm, type: http, url: "${crm.url}"}
  - {name: partner, type: http, url: "${refusing.url}"}
  - {name: flaky, type: http, url: "${down.url}", filter: {kind: event}}
  - {name: archive, type: file, path: "${archiveDir}"}
  - {name: blocked, type: file, path: "${archiveDir}/afile/archive"}
`);
  });
  afterAll(async () => {
    for (const sink of [crm, refusing, down]) await sink.close();
  });

  it('sends one example call record to every destination and says how each answered', async () => {
    const { code, output } = await sendExample();
    const lines = output.split('\n');
    expect(lines[0]).toMatch(
      /^example event [0-9a-f]+: cdr answered \(chub\), call cdrf-example-[0-9a-f-]+$/,
    );
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^ {2}crm {6}delivered in \d+ ms \(HTTP 200\)$/),
      '  partner  failed: HTTP 401: invalid api key (a refusal for good: a delivery would go dead at once)',
      expect.stringMatching(
        /^ {2}flaky {4}failed: HTTP 503: maintenance \(retryable: a delivery would be retried\); its filter would not take this event$/,
      ),
      expect.stringMatching(/^ {2}archive {2}delivered in \d+ ms$/),
      `  blocked  would not start: cannot write to its path ${archiveDir}/afile/archive (ENOTDIR: a file stands where a folder is needed); make it a writable folder, or set its path to one`,
    ]);
    // Not everything took it.
    expect(code).toBe(1);

    // The CRM got the canonical event, with its id as webhook-id.
    expect(crm.requests).toHaveLength(1);
    const event = JSON.parse(crm.requests[0]?.body ?? '') as CallEvent;
    expect(crm.requests[0]?.headers['webhook-id']).toBe(event.id);
    expect(event).toMatchObject({ kind: 'cdr', status: 'answered', direction: 'inbound', provider: 'chub' });
    expect(event.callId).toMatch(/^cdrf-example-/);
    // The archive has it as one line, the same event.
    const [file] = readdirSync(archiveDir).filter((name) => name.endsWith('.ndjson'));
    expect(JSON.parse(readFileSync(join(archiveDir, file ?? ''), 'utf8'))).toEqual(event);
  });

  it('--destination sends to those only; exit 0 when they all took it', async () => {
    const before = crm.requests.length;
    const { code, output } = await sendExample('--destination', 'crm');
    expect(code).toBe(0);
    expect(output.split('\n').slice(1)).toEqual([
      expect.stringMatching(/^ {2}crm {2}delivered in \d+ ms \(HTTP 200\)$/),
    ]);
    expect(crm.requests).toHaveLength(before + 1);
    expect(refusing.requests).toHaveLength(1);
  });

  it('says what is wrong with its flags', async () => {
    expect(await sendExample('--destination', 'nope')).toEqual({
      code: 2,
      output: 'send-example: unknown destination "nope"; one of: crm, partner, flaky, archive, blocked',
    });
  });
});
