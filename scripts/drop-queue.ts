/**
 * `npm run drop-queue -- --destination NAME [--dry-run]`: removes the queue of a destination that
 * is no longer in the config (renamed or removed), with every delivery it still holds, and prints
 * what it held. A destination in the config is refused: its queue is in use.
 */
import { Queue } from 'bullmq';
import { cleanedKey } from '../src/queue/cleaned.ts';
import { deliveryCounts } from '../src/queue/delivery-counts.ts';
import { destinationQueueName, destinationsLeftBehind } from '../src/queue/names.ts';
import { configOrFail, connectOrFail, fail as failWith, flagsOrFail } from './cli.ts';

const TOOL = 'drop-queue';
const fail: (message: string) => never = (message) => failWith(TOOL, message);
const args = flagsOrFail(
  TOOL,
  { destination: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  'npm run drop-queue -- --destination NAME [--dry-run]',
);
const config = configOrFail(TOOL);
const name = args.destination;
if (!name) fail('--destination is required: the name of a destination no longer in the config');
if (config.destinations.some((destination) => destination.name === name))
  fail(`${name} is in the config: its queue is in use; remove it from the config and stop its workers first`);

const connection = await connectOrFail(TOOL, config);
if (!(await destinationsLeftBehind(connection, config)).includes(name))
  fail(`no queue of a destination "${name}" in Redis (prefix ${config.redis.prefix})`);
const queue = new Queue(destinationQueueName(name), { connection, prefix: config.redis.prefix });
const { pending, dead, delivered } = await deliveryCounts(queue);
const held = `${pending} pending, ${dead} dead, ${delivered} delivered deliveries`;
if (args['dry-run']) {
  console.log(`dry run: the queue of ${name} holds ${held}; nothing removed`);
} else {
  // force: also the jobs a worker of an older config may still hold (their deliveries are given up).
  await queue.obliterate({ force: true });
  await connection.del(cleanedKey(config.redis.prefix, queue.name));
  console.log(`removed the queue of ${name}: ${held}`);
}
await queue.close();
connection.disconnect();
