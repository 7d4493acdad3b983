import { FANOUT_ROLE, type ForwarderConfig } from '../config/index.ts';
import { startDeliveryWorker } from '../delivery/worker.ts';
import { startFanout } from '../fanout/worker.ts';
import type { Logger } from './logger.ts';
import { type Service, UsageError } from './main.ts';

/** The name `--only` uses for the fan-out (ingest queue -> destination queues). */
const FANOUT = FANOUT_ROLE;

/**
 * Reads `--only crm,warehouse` into the roles to run; without it, all of them. A name that is
 * neither `fanout` nor a configured destination is a mistake worth stopping for.
 */
export function selectRoles(only: string | undefined, config: ForwarderConfig): Set<string> {
  const all = [FANOUT, ...config.destinations.map((destination) => destination.name)];
  if (only === undefined) return new Set(all);
  const wanted = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = wanted.filter((name) => !all.includes(name));
  if (unknown.length > 0 || wanted.length === 0) {
    throw new UsageError(
      `--only: unknown ${unknown.length > 0 ? `name(s) ${unknown.join(', ')}` : 'empty list'}; expected some of ${all.join(', ')}`,
    );
  }
  return new Set(wanted);
}

/**
 * Starts the workers of `roles`. They stop together: closed one after another, those not yet told
 * kept taking jobs while the first waited for its deliveries in flight.
 */
export function startWorkers(config: ForwarderConfig, logger: Logger, roles: Set<string>): Service {
  const services: Service[] = [];
  if (roles.has(FANOUT)) services.push(startFanout(config, logger));
  for (const destination of config.destinations) {
    if (roles.has(destination.name)) {
      services.push(startDeliveryWorker(config, destination, logger));
    }
  }
  logger.info({ roles: [...roles] }, 'workers started');
  return {
    async close() {
      // Every one is waited for, even when another's close fails.
      const closed = await Promise.allSettled(services.map((service) => service.close()));
      const failed = closed.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
