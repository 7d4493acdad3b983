/**
 * `npm run worker`: the fan-out and every destination. `npm run worker -- --only crm,warehouse`
 * runs a subset (`fanout` names the fan-out), so each destination can be scaled on its own.
 * Serves `/metrics` and `/healthz` on `workers.metricsPort` (default 9464; 0: off), on `workers.metricsHost`.
 */
import { exitOnHelp, readFlags, runMain, type Service } from '../src/ops/main.ts';
import { startMetricsServer } from '../src/ops/metrics.ts';
import { selectRoles, startWorkers } from '../src/ops/run-workers.ts';

const USAGE = 'usage: npm run worker [-- --only fanout,NAME,...]';
exitOnHelp(USAGE);

await runMain<Set<string>>(
  'worker',
  async (config, logger, roles) => {
    const services: Service[] = [];
    // First, so that it is the last to stop: it answers scrapes while the workers wind down.
    if (config.workers.metricsPort > 0)
      services.push(await startMetricsServer(config.workers.metricsPort, logger, config.workers.metricsHost));
    services.push(startWorkers(config, logger, roles));
    return services;
  },
  (config) => selectRoles(readFlags(USAGE, { only: { type: 'string' } }).only, config),
);
