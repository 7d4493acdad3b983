import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ledger } from '../../src/ops/ledger.ts';
import { runScript, type Spawned, spawnEntry, writeTempConfig } from './process.ts';
import { uniquePrefix } from './receiver.ts';
import { freePort, waitFor } from './redis-server.ts';

/**
 * The forwarder as it runs in production, as real processes: a receiver and a worker started from
 * `workers/`, with a config written for the test. Processes can be killed and started again.
 */
export class Stack {
  readonly prefix = uniquePrefix('stack');
  readonly spoolDir = mkdtempSync(join(tmpdir(), 'cdrf-spool-'));
  readonly configFile: string;
  readonly #spawned: Spawned[] = [];
  receiver: Spawned | undefined;
  worker: Spawned | undefined;

  private constructor(
    readonly port: number,
    readonly redisUrl: string,
    destinations: string,
  ) {
    this.configFile = writeTempConfig(
      `redis: {url: "${redisUrl}", prefix: ${this.prefix}}
receiver: {port: ${port}, host: 127.0.0.1, spoolDir: ${this.spoolDir}}
workers: {stalledIntervalMs: 500}
destinations:
${destinations}`,
    );
  }

  static async create(redisUrl: string, destinations: string): Promise<Stack> {
    return new Stack(await freePort(), redisUrl, destinations);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook/cdr`;
  }

  async startReceiver(): Promise<void> {
    const run = spawnEntry('workers/receiver.ts', { FORWARDER_CONFIG: this.configFile });
    this.#spawned.push(run);
    this.receiver = run;
    await waitFor(() => run.output().includes('receiver listening') || run.child.exitCode !== null, 20_000);
    if (run.child.exitCode !== null) throw new Error(`receiver exited: ${run.output()}`);
  }

  /**
   * Starts a worker process and resolves once it has started its workers (it checks Redis first
   * and exits if it cannot reach it, so a test that breaks Redis must not do so before this).
   */
  async startWorker(): Promise<void> {
    const run = this.spawnWorker();
    await waitFor(() => run.output().includes('workers started') || run.child.exitCode !== null, 20_000);
    if (run.child.exitCode !== null) throw new Error(`worker exited: ${run.output()}`);
  }

  /** Starts a worker process without waiting for it (a replacement, while the test goes on). */
  spawnWorker(): Spawned {
    const run = spawnEntry('workers/worker.ts', { FORWARDER_CONFIG: this.configFile });
    this.worker = run;
    this.#spawned.push(run);
    return run;
  }

  async kill(run: Spawned | undefined): Promise<void> {
    if (!run || run.child.exitCode !== null) return;
    run.child.kill('SIGKILL');
    await run.exited;
  }

  /** `npm run ledger -- --json` against this stack. */
  async ledger(): Promise<{ code: number | null; ledger: Ledger }> {
    const { code, output } = await runScript('scripts/ledger.ts', this.configFile, ['--json']);
    return { code, ledger: JSON.parse(output.split('\n').pop() ?? '{}') as Ledger };
  }

  async stop(): Promise<void> {
    for (const run of this.#spawned) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    await Promise.all(this.#spawned.map((run) => run.exited));
  }
}

/**
 * Sends `count` distinct notifications, `perSecond` at a time, and records which were acknowledged
 * (200). An answer other than 200 counts as refused. A request with no answer at all (the receiver
 * is down, or died before answering) counts as refused too, unless `resendUnanswered`: then it is
 * sent again every 250 ms, for up to 20 s, as TeleCMI resends. A receiver that died after storing
 * a notification but before answering then answers the resend `duplicate: true`, with its id.
 */
export async function stream(
  url: string,
  count: number,
  perSecond: number,
  during?: (sent: number) => Promise<void> | void,
  options: { resendUnanswered?: boolean } = {},
): Promise<{ acknowledged: Set<string>; refused: number }> {
  const acknowledged = new Set<string>();
  let refused = 0;
  const inFlight: Promise<void>[] = [];
  const send = async (body: string, tries = 80): Promise<void> => {
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    } catch {
      if (!options.resendUnanswered || tries <= 1) {
        refused += 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
      return send(body, tries - 1);
    }
    if (response.status === 200) acknowledged.add(((await response.json()) as { id: string }).id);
    else refused += 1;
  };
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({
      type: i % 3 === 0 ? 'event' : 'cdr',
      cmiuuid: `fault-${i}`,
      status: i % 2 === 0 ? 'answered' : 'missed',
      direction: 'inbound',
      from: 440000000000 + i,
      to: '4400000000001',
      time: Date.now(),
      answeredsec: i % 60,
    });
    inFlight.push(send(body));
    await during?.(i);
    await new Promise((resolve) => setTimeout(resolve, 1000 / perSecond));
  }
  await Promise.all(inFlight);
  return { acknowledged, refused };
}
