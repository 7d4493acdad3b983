import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temporary folder the tests make (spools, archives, configs, the data of the Redis and
 * PostgreSQL servers some tests start) goes under one folder, removed when the run ends: test
 * workers and the processes they start inherit TMPDIR, which `os.tmpdir()` reads.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'cdrf-test-'));
  // The PostgreSQL helper runs its server as the postgres user, which must reach its folder in here.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
