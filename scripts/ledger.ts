/**
 * `npm run ledger [-- --json]`: per destination, how many events were routed, delivered, are dead or
 * pending, and what is still in the receiver's spool; exits 1 when they do not add up to what was
 * received.
 */
import { Queue } from 'bullmq';
import { formatLedger, readLedger } from '../src/ops/ledger.ts';
import { Spool } from '../src/queue/spool.ts';
import { configOrFail, connectOrFail, flagsOrFail } from './cli.ts';

const TOOL = 'ledger';
const values = flagsOrFail(TOOL, { json: { type: 'boolean', default: false } }, 'npm run ledger [-- --json]');
const config = configOrFail(TOOL);
const connection = await connectOrFail(TOOL, config);
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
