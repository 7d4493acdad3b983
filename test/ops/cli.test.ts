import { describe, expect, it } from 'vitest';
import { runScript, writeTempConfig } from '../helpers/process.ts';

describe('the operator commands', () => {
  const configFile = writeTempConfig(
    'destinations:\n  - {name: archive, type: file, path: /tmp/cdrf-cli-test}\n',
  );

  it.each([
    ['ledger', 'scripts/ledger.ts'],
    ['trace', 'scripts/trace.ts'],
    ['replay', 'scripts/replay.ts'],
    ['backfill', 'scripts/backfill.ts'],
    ['send-example', 'scripts/send-example.ts'],
    ['drop-queue', 'scripts/drop-queue.ts'],
    ['simulate', 'scripts/simulate.ts'],
    ['config:schema', 'scripts/config-schema.ts'],
  ])('%s answers an unknown flag with its usage and exit 2, no stack trace', async (tool, entry) => {
    const { code, output } = await runScript(entry, configFile, ['--bogus']);
    expect(code).toBe(2);
    expect(output).toMatch(new RegExp(`^${tool}: Unknown option '--bogus'`));
    expect(output).toContain('usage: npm run');
    expect(output).not.toMatch(/\n\s+at /);
  });
});
