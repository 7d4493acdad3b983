import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; the level comes from LOG_LEVEL (default info). */
export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? 'info', base: { ...bindings } });
}
