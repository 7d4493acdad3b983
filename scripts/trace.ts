/**
 * `npm run trace -- EVENT_ID... [--call CALL_ID]... [--json]`: what became of an event (or of every
 * event of a call) at each destination (delivered, retrying, dead, not wanted...), from Redis.
 * Exits 1 when an id is not found.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { formatCallTrace, formatTrace, traceCall, traceEvent } from '../src/ops/trace.ts';
import { assertRedisReachable, producerConnection, RedisUnreachableError } from '../src/queue/redis.ts';

const USAGE = [
  'usage: npm run trace -- EVENT_ID... [--call CALL_ID]... [--json]',
  '  EVENT_ID  the "id" the receiver answers, as in the logs',
  "  CALL_ID   a call's cmiuuid, or its conversation_uuid / call_id: every event of the call",
].join('\n');

function fail(message: string, code = 2): never {
  process.stderr.write(`trace: ${message}\n`);
  process.exit(code);
}

let parsed: { values: { json: boolean; call: string[] }; positionals: string[] };
try {
  parsed = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      call: { type: 'string', multiple: true, default: [] },
    },
    allowPositionals: true,
  });
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`);
}
const { values, positionals: eventIds } = parsed;
if (eventIds.length === 0 && values.call.length === 0) fail(`no event id or call id given\n${USAGE}`);
if ([...eventIds, ...values.call].some((id) => id.trim() === '')) fail(`an empty id was given\n${USAGE}`);

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
  await assertRedisReachable(config.redis.url);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  if (error instanceof RedisUnreachableError) fail(error.message, 1);
  throw error;
}

// Commands wait for the connection to be ready (a producer's fail at once while it is not).
const connection = producerConnection(config.redis.url, { enableOfflineQueue: true });
let allFound = true;
for (const eventId of eventIds) {
  const trace = await traceEvent(config, connection, eventId);
  allFound &&= trace.found;
  console.log(values.json ? JSON.stringify(trace) : formatTrace(trace));
}
for (const call of values.call) {
  const trace = await traceCall(config, connection, call);
  allFound &&= trace.events.length > 0;
  console.log(values.json ? JSON.stringify(trace) : formatCallTrace(trace));
}
connection.disconnect();
process.exit(allFound ? 0 : 1);
