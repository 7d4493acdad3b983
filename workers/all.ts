/**
 * `npm start`: the receiver and every worker in one process. The receiver's `/metrics` covers the
 * workers too (one registry per process), so `workers.metricsPort` is not used here.
 */
import { exitOnHelp, readFlags, runMain } from '../src/ops/main.ts';
import { selectRoles, startWorkers } from '../src/ops/run-workers.ts';
import { startReceiver } from '../src/receiver/server.ts';

const USAGE = 'usage: npm start   (it takes no flags: see README, Configuration)';
exitOnHelp(USAGE);

await runMain(
  'all',
  async (config, logger) => [
    startWorkers(config, logger, selectRoles(undefined, config)),
    // Last, so that it is the first to stop: no new notification arrives while workers wind down.
    await startReceiver(config, logger),
  ],
  () => readFlags(USAGE, {}),
);
