/**
 * `npm run replay -- --destination crm [--delivered] [--call ID] [--since ISO] [--until ISO] [--status 500-599] [--dry-run]`:
 * re-queues the dead deliveries of one destination that match (with `--delivered`, the delivered
 * ones, to send them again), and prints how many.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { parseStatusRange, type ReplayCriteria, replayDeliveries } from '../src/delivery/replay.ts';
import { destinationQueueName } from '../src/queue/names.ts';
import { assertRedisReachable, producerConnection, RedisUnreachableError } from '../src/queue/redis.ts';
import type { CallEvent } from '../src/telecmi/index.ts';

function fail(message: string, code = 2): never {
  process.stderr.write(`replay: ${message}\n`);
  process.exit(code);
}

function date(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const value = new Date(text);
  if (Number.isNaN(value.getTime()))
    fail(`${flag}: expected an ISO 8601 time such as 2026-11-24T08:00:00Z; got "${text}"`);
  return value;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      destination: { type: 'string' },
      delivered: { type: 'boolean', default: false },
      call: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      status: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  }).values;
}
try {
  args = parse();
} catch (error) {
  fail(
    `${(error as Error).message}\nusage: npm run replay -- --destination NAME [--delivered] [--call ID]... [--since ISO] [--until ISO] [--status 500-599] [--dry-run]`,
  );
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
const names = config.destinations.map((destination) => destination.name);
if (!args.destination) fail(`--destination is required; one of: ${names.join(', ') || '(none configured)'}`);
if (!names.includes(args.destination))
  fail(`unknown destination "${args.destination}"; one of: ${names.join(', ')}`);

const state = args.delivered ? 'delivered' : 'dead';
const criteria: ReplayCriteria = {
  state,
  since: date('--since', args.since),
  until: date('--until', args.until),
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

try {
  await assertRedisReachable(config.redis.url);
} catch (error) {
  if (error instanceof RedisUnreachableError) fail(error.message, 1);
  throw error;
}
// Commands wait for the connection to be ready (a producer's fail at once while it is not).
const connection = producerConnection(config.redis.url, { enableOfflineQueue: true });
const queue = new Queue<CallEvent>(destinationQueueName(args.destination), {
  connection,
  prefix: config.redis.prefix,
});
const result = await replayDeliveries({ queue, destination: args.destination, redis: connection }, criteria, {
  dryRun: args['dry-run'],
});
console.log(
  args['dry-run']
    ? `dry run: ${result.matched} ${state} deliveries of ${args.destination} match; nothing re-queued`
    : `re-queued ${result.requeued} ${state} deliveries of ${args.destination}`,
);
await queue.close();
connection.disconnect();
