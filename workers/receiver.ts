/** `npm run receiver`: the HTTP receiver alone. */
import { exitOnHelp, readFlags, runMain } from '../src/ops/main.ts';
import { startReceiver } from '../src/receiver/server.ts';

const USAGE = 'usage: npm run receiver   (it takes no flags: see README, Configuration)';
exitOnHelp(USAGE);

await runMain(
  'receiver',
  async (config, logger) => [await startReceiver(config, logger)],
  () => readFlags(USAGE, {}),
);
