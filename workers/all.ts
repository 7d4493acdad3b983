/** `npm start`: the receiver and every worker in one process. */
import { runMain } from '../src/ops/main.ts';
import { startReceiver } from '../src/receiver/server.ts';

await runMain('all', async (config, logger) => [await startReceiver(config, logger)]);
