/**
 * `npm run replay -- --destination crm [--delivered] [--call ID] [--since ISO] [--until ISO] [--status 500-599|5xx|none] [--dry-run]`:
 * re-queues the dead deliveries of one destination that match (with `--delivered`, the delivered
 * ones, to send them again), and prints how many.
 */
import { Queue } from 'bullmq';
import { parseStatusRange, type ReplayCriteria, replayDeliveries } from '../src/delivery/replay.ts';
import { destinationQueueName } from '../src/queue/names.ts';
import type { CallEvent } from '../src/telecmi/index.ts';
import {
  configOrFail,
  connectOrFail,
  counted,
  destinationOrFail,
  fail as failWith,
  flagsOrFail,
  timeOrFail,
} from './cli.ts';

const TOOL = 'replay';
const fail: (message: string) => never = (message) => failWith(TOOL, message);

const args = flagsOrFail(
  TOOL,
  {
    destination: { type: 'string' },
    delivered: { type: 'boolean', default: false },
    call: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    status: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
  'npm run replay -- --destination NAME [--delivered] [--call ID]... [--since ISO] [--until ISO] [--status 500-599|5xx|none] [--dry-run]',
);

const config = configOrFail(TOOL);
const destination = destinationOrFail(TOOL, config, args.destination);
const state = args.delivered ? 'delivered' : 'dead';
const criteria: ReplayCriteria = {
  state,
  since: timeOrFail(TOOL, '--since', args.since),
  until: timeOrFail(TOOL, '--until', args.until),
  ...(args.call ? { calls: args.call } : {}),
};
if (args.call?.some((call) => call.trim() === ''))
  fail('--call: expected a call id (cmiuuid) or conversation id; got an empty one');
if (args.status !== undefined) {
  if (state === 'delivered')
    fail('--status filters dead deliveries by their last answer; a delivered one has none');
  try {
    criteria.status = parseStatusRange(args.status);
  } catch (error) {
    fail((error as Error).message);
  }
}

const connection = await connectOrFail(TOOL, config);
const queue = new Queue<CallEvent>(destinationQueueName(destination), {
  connection,
  prefix: config.redis.prefix,
});
const result = await replayDeliveries({ queue, destination, redis: connection }, criteria, {
  dryRun: args['dry-run'],
});
console.log(
  args['dry-run']
    ? `dry run: ${counted(result.matched, `${state} delivery`, `${state} deliveries`)} of ${destination} ${result.matched === 1 ? 'matches' : 'match'}; nothing re-queued`
    : `re-queued ${counted(result.requeued, `${state} delivery`, `${state} deliveries`)} of ${destination}`,
);
await queue.close();
connection.disconnect();
