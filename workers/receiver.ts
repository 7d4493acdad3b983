/** `npm run receiver`: the HTTP receiver alone. */
import { runMain } from '../src/ops/main.ts';
import { startReceiver } from '../src/receiver/server.ts';

await runMain('receiver', async (config, logger) => [await startReceiver(config, logger)]);
