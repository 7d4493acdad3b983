import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './redis-server.ts';

/** The server binaries of the PostgreSQL that `.ci/run` installs (Debian: /usr/lib/postgresql/<v>/bin). */
function binary(name: string): string {
  const version = readdirSync('/usr/lib/postgresql').sort().pop();
  return `/usr/lib/postgresql/${version}/bin/${name}`;
}

/** Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root). */
function asPostgres(command: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  if (isRoot) execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'ignore' });
  else execFileSync(command, args, { stdio: 'ignore' });
}

/** A private PostgreSQL cluster on its own port, for tests that restart the database. */
export class OwnPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<OwnPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'cdrf-pg-'));
    if (process.getuid?.() === 0)
      chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), -1);
    asPostgres(binary('initdb'), ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const server = new OwnPostgres(dir, await freePort());
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    asPostgres(binary('pg_ctl'), [
      '-D',
      this.dir,
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
    await waitFor(async () => {
      const client = new pg.Client({ connectionString: this.url });
      try {
        await client.connect();
        return true;
      } finally {
        await client.end().catch(() => {});
      }
    }, 20_000);
  }

  /** `immediate` aborts every connection and transaction, as a crash would. */
  stop(mode: 'fast' | 'immediate' = 'immediate'): void {
    asPostgres(binary('pg_ctl'), ['-D', this.dir, '-m', mode, '-w', 'stop']);
  }
}
