/**
 * `npm run ledger [-- --json] [--strict]`: per destination, how many events were routed, delivered,
 * are dead or pending, and what is still in the receiver's spool; exits 1 when they do not add up to
 * what was received, and with `--strict` while a delivery is dead too.
 */
import { Queue } from 'bullmq';
import { formatLedger, readLedger } from '../src/ops/ledger.ts';
import { Spool } from '../src/queue/spool.ts';
import { configOrFail, connectOrFail, counted, flagsOrFail } from './cli.ts';

const TOOL = 'ledger';
const values = flagsOrFail(
  TOOL,
  { json: { type: 'boolean', default: false }, strict: { type: 'boolean', default: false } },
  'npm run ledger [-- --json] [--strict]   (--strict: exit 1 while a delivery is dead, too)',
);
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
// A dead delivery is accounted for, so the books balance; a check run by cron wants to hear of it.
const dead = ledger.destinations.filter((destination) => destination.dead > 0);
const deadCount = dead.reduce((sum, destination) => sum + destination.dead, 0);
const strictFails = values.strict && deadCount > 0;
// On stderr: with --json, stdout holds the JSON alone.
if (strictFails) {
  console.error(
    `strict: ${counted(deadCount, 'dead delivery', 'dead deliveries')} (${dead.map((d) => `${d.name} ${d.dead}`).join(', ')}): ` +
      `${dead.map((d) => `npm run replay -- --destination ${d.name}`).join('; ')} sends them again`,
  );
}
process.exit(ledger.balanced && !strictFails ? 0 : 1);
