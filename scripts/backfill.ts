/**
 * `npm run backfill -- --destination NAME [--since ISO] [--until ISO] [--dry-run]`: gives a
 * destination the events Redis still keeps that it wants and has no delivery of (a destination
 * added later, a filter widened), and prints how many.
 */
import { backfill } from '../src/fanout/backfill.ts';
import { configOrFail, connectOrFail, counted, destinationOrFail, flagsOrFail, timeOrFail } from './cli.ts';

const TOOL = 'backfill';

const args = flagsOrFail(
  TOOL,
  {
    destination: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
  'npm run backfill -- --destination NAME [--since ISO] [--until ISO] [--dry-run]',
);

const config = configOrFail(TOOL);
const destination = destinationOrFail(TOOL, config, args.destination);
const criteria = {
  since: timeOrFail(TOOL, '--since', args.since),
  until: timeOrFail(TOOL, '--until', args.until),
};
const connection = await connectOrFail(TOOL, config);
const dryRun = args['dry-run'];
const result = await backfill(config, connection, destination, criteria, { dryRun });
console.log(
  dryRun
    ? `dry run: ${counted(result.wanted, 'kept event', 'kept events')} that ${destination} wants, ${result.missing} of them without a delivery to it; nothing added`
    : `added ${counted(result.added, 'delivery', 'deliveries')} to ${destination}; ${counted(result.wanted - result.added, 'event', 'events')} it wants already had one`,
);
connection.disconnect();
