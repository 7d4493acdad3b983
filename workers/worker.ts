/**
 * `npm run worker`: the fan-out and every destination. `npm run worker -- --only crm,warehouse`
 * runs a subset (`fanout` names the fan-out), so each destination can be scaled on its own.
 */
import { parseArgs } from 'node:util';
import { runMain } from '../src/ops/main.ts';
import { selectRoles, startWorkers } from '../src/ops/run-workers.ts';

const { values } = parseArgs({ options: { only: { type: 'string' } } });

await runMain('worker', async (config, logger) =>
  startWorkers(config, logger, selectRoles(values.only, config)),
);
