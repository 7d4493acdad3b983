import { Writable } from 'node:stream';
import { createLogger } from '../../src/ops/logger.ts';

export type Line = Record<string, unknown> & { msg?: string };

/** A logger (at debug) whose JSON lines the test can read. */
export function capturingLogger() {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ process: 'test' }, { destination: stream, level: 'debug' });
  return { logger, raw, lines: () => raw.map((line) => JSON.parse(line) as Line) };
}
