import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DestinationConfig, ForwarderConfig } from '../config/index.ts';
import { deliveryJobOptions } from '../delivery/retry.ts';
import { deliveryJobId, destinationQueueName } from '../queue/names.ts';
import type { CallEvent } from '../telecmi/index.ts';
import { compileFilter } from './filter.ts';

/** Where the events a destination wants go: its filter, its queue, its delivery job options. */
export interface Route {
  name: string;
  wants: (event: CallEvent) => boolean;
  queue: Queue<CallEvent>;
  jobOptions: JobsOptions;
}

export function routeOf(config: ForwarderConfig, destination: DestinationConfig, connection: Redis): Route {
  return {
    name: destination.name,
    wants: compileFilter(destination.filter),
    queue: new Queue<CallEvent>(destinationQueueName(destination.name), {
      connection,
      prefix: config.redis.prefix,
    }),
    jobOptions: deliveryJobOptions(config.retention),
  };
}

/**
 * The delivery job of `event` for a route. Its id is derived from event and destination, so adding
 * it again (a fan-out retried or run twice, a backfill) adds nothing while the first is kept.
 */
export function deliveryJobOf(
  route: Route,
  event: CallEvent,
): { name: string; data: CallEvent; opts: JobsOptions & { jobId: string } } {
  const jobId = deliveryJobId(event.id, route.name);
  return { name: event.kind, data: event, opts: { ...route.jobOptions, jobId } };
}
