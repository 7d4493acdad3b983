/**
 * `npm run send-example -- [--destination NAME]...`: sends one example call record straight to
 * each destination (or those named), without Redis, and prints how each answered. Exits 1 when one
 * did not take it.
 */
import { createLogger } from '../src/ops/logger.ts';
import { formatExampleOutcomes, sendExample } from '../src/ops/send-example.ts';
import { exampleEvent } from '../src/telecmi/example.ts';
import { configOrFail, destinationOrFail, flagsOrFail } from './cli.ts';

const TOOL = 'send-example';
const args = flagsOrFail(
  TOOL,
  { destination: { type: 'string', multiple: true } },
  'npm run send-example -- [--destination NAME]...',
);
const config = configOrFail(TOOL);
const names = args.destination ?? config.destinations.map((destination) => destination.name);
for (const name of names) destinationOrFail(TOOL, config, name);
if (names.length === 0) {
  console.log('no destination configured: nothing to send to');
  process.exit(0);
}

const event = exampleEvent();
// The destinations' own warnings (a failed attempt) would repeat what the summary says.
const logger = createLogger({ process: TOOL }, { level: 'silent' });
const outcomes = [];
for (const destination of config.destinations.filter((d) => names.includes(d.name)))
  outcomes.push(await sendExample(destination, event, logger));
console.log(
  `example event ${event.id}: ${event.kind} ${event.status} (${event.provider}), call ${event.callId}`,
);
console.log(formatExampleOutcomes(outcomes));
process.exit(outcomes.every((outcome) => outcome.delivered) ? 0 : 1);
