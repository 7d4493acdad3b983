/**
 * `npm run ledger [-- --json]`: per destination, how many events were routed, delivered, are dead or
 * pending, and what is still in the receiver's spool; exits 1 when they do not add up to what was
 * received.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { formatLedger, readLedger } from '../src/ops/ledger.ts';
import { assertRedisReachable, producerConnection, RedisUnreachableError } from '../src/queue/redis.ts';
import { Spool } from '../src/queue/spool.ts';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
  await assertRedisReachable(config.redis.url);
} catch (error) {
  if (error instanceof ConfigError || error instanceof RedisUnreachableError) {
    process.stderr.write(`ledger: ${error.message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  throw error;
}

const connection = producerConnection(config.redis.url);
const queues = new Map<string, Queue>();
const queueFor = (name: string) => {
  let queue = queues.get(name);
  if (!queue) {
    queue = new Queue(name, { connection, prefix: config.redis.prefix });
    queues.set(name, queue);
  }
  return queue;
};
// The spool of the receiver on this machine (receiver.spoolDir).
const spooled = new Spool(config.receiver.spoolDir).depth;
const ledger = await readLedger(config, connection, queueFor, spooled);
console.log(values.json ? JSON.stringify(ledger) : formatLedger(ledger));
for (const queue of queues.values()) await queue.close();
connection.disconnect();
process.exit(ledger.balanced ? 0 : 1);
