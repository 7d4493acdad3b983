import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function writeTempConfig(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cdrf-config-')), 'forwarder.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs one of the entry points in `workers/` as a real process, the way npm scripts do. */
export function spawnEntry(entry: string, env: Record<string, string>, args: string[] = []): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry), ...args], {
    cwd: ROOT,
    // Worker processes run side by side: no metrics port unless the test asks for one.
    env: { ...process.env, LOG_LEVEL: 'info', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Runs an npm script's entry point (`scripts/*.ts`) against a config file, to its end. */
export async function runScript(
  entry: string,
  configFile: string,
  args: string[] = [],
): Promise<{ code: number | null; output: string }> {
  const run = spawnEntry(entry, { FORWARDER_CONFIG: configFile, LOG_LEVEL: 'silent' }, args);
  const code = await run.exited;
  return { code, output: run.output().trim() };
}
