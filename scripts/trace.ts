/**
 * `npm run trace -- EVENT_ID... [--call CALL_ID]... [--json]`: what became of an event (or of every
 * event of a call) at each destination (delivered, retrying, dead, not wanted...), from Redis.
 * Exits 1 when an id is not found.
 */
import { parseArgs } from 'node:util';
import { exitOnHelp } from '../src/ops/main.ts';
import { formatCallTrace, formatTrace, traceCall, traceEvent } from '../src/ops/trace.ts';
import { configOrFail, connectOrFail, fail as failWith } from './cli.ts';

const USAGE = [
  'usage: npm run trace -- EVENT_ID... [--call CALL_ID]... [--json]',
  '  EVENT_ID  the "id" the receiver answers, as in the logs',
  "  CALL_ID   a call's cmiuuid, or its conversation_uuid / call_id: every event of the call",
].join('\n');

const TOOL = 'trace';
const fail: (message: string) => never = (message) => failWith(TOOL, message);

exitOnHelp(USAGE);
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

const config = configOrFail(TOOL);
const connection = await connectOrFail(TOOL, config);
let allFound = true;
for (const eventId of eventIds) {
  const trace = await traceEvent(config, connection, eventId);
  allFound &&= trace.found;
  console.log(values.json ? JSON.stringify(trace) : formatTrace(trace));
}
for (const call of values.call) {
  const trace = await traceCall(config, connection, call);
  allFound &&= trace.events.length > 0;
  console.log(values.json ? JSON.stringify(trace) : formatCallTrace(trace, config.retention.deliveredDays));
}
connection.disconnect();
process.exit(allFound ? 0 : 1);
