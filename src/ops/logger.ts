import { hostname } from 'node:os';
import pino, { type DestinationStream, type Logger } from 'pino';
import { maskNumbersInValue } from '../telecmi/mask.ts';
import { redactUrl } from './redact.ts';

export type { Logger };

export interface LoggerOptions {
  /** Where the JSON lines go; default stdout. Tests pass a stream of their own. */
  destination?: DestinationStream;
  /** Phone numbers in error messages are masked (`••••0002`) unless this is true (`logging.showNumbers`). */
  showNumbers?: boolean;
  /** Default: LOG_LEVEL, else info. */
  level?: string;
}

/**
 * Keys whose values are secrets, at the top of a log object or one level down (`{config: {token}}`,
 * `{err: {headers}}`): tokens, passwords, signing secrets, header maps (they carry API keys),
 * Slack webhook URLs.
 */
const SECRET_KEYS = new Set([
  'authorization',
  'token',
  'previousToken',
  'password',
  'secret',
  'signingSecret',
  'previousSigningSecret',
  'clientSecret',
  'refreshToken',
  'headers',
  'webhookUrl',
  'connectionString',
]);
/** Keys holding URLs: kept, but with their password (and any `token` parameter) hidden. */
const URL_KEYS = new Set(['url', 'proxy']);

const REDACTED = '[redacted]';

/** A URL keeps its host and path; its password and `token` go, and what is not a URL goes whole. */
function censorUrl(value: unknown): unknown {
  return typeof value === 'string' ? (redactUrl(value) ?? REDACTED) : value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Error);
}

/**
 * The object with secrets redacted by key, at its top and one level down; copied only when
 * something is redacted. A plain loop over the keys: pino's path-based `redact` with `*.key`
 * wildcards cost about 4 µs per line, most of a delivery's log line, on the hot path.
 * Errors are redacted after their serialiser has made plain objects of them.
 */
function redactSecrets<T extends Record<string, unknown>>(object: T, depth = 0): T {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    let next: unknown = value;
    if (SECRET_KEYS.has(key)) next = REDACTED;
    else if (URL_KEYS.has(key)) next = censorUrl(value);
    else if (depth === 0 && isPlainObject(value)) next = redactSecrets(value, 1);
    if (next !== value) {
      copy ??= { ...object };
      copy[key] = next;
    }
  }
  return (copy ?? object) as T;
}

/** The levels LOG_LEVEL may name. */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** LOG_LEVEL names no level (`warning`): a mistake in how the process was started. */
export class LogLevelError extends Error {
  constructor(level: string) {
    super(`LOG_LEVEL: "${level}" is not a level; expected one of ${LEVELS.join(', ')}`);
    this.name = 'LogLevelError';
  }
}

/**
 * JSON lines on stdout; the level comes from LOG_LEVEL (default info). Every line names the host and
 * process id (several workers of a destination run side by side). Secrets are redacted by key
 * (`token`, `password`, `headers`, `webhookUrl`, URL passwords, …), and phone numbers that an
 * error quotes (an endpoint echoing the payload, a database row) are masked unless `showNumbers`:
 * in `error` (a message, text) and `err` (an Error: type, message, stack). Log lines otherwise carry
 * event ids, never event fields.
 */
export function createLogger(bindings: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(level)) throw new LogLevelError(level);
  const errSerializer = (err: unknown): unknown => {
    const serialised = err instanceof Error ? pino.stdSerializers.err(err) : err;
    // The error is one level down from the log object.
    const redacted = isPlainObject(serialised) ? redactSecrets(serialised, 1) : serialised;
    return options.showNumbers ? redacted : maskNumbersInValue(redacted, { maxDepth: 3 });
  };
  const settings: pino.LoggerOptions = {
    level,
    base: { pid: process.pid, hostname: hostname(), ...bindings },
    serializers: { err: errSerializer, error: errSerializer },
    formatters: {
      bindings: (bindings) => redactSecrets(bindings),
      log: (object) => redactSecrets(object),
    },
  };
  // stdout asynchronously: lines written while a write is in flight go out together, instead of one
  // write system call per line on the request path. `runMain` flushes before the process exits.
  const logger = pino(settings, options.destination ?? pino.destination({ dest: 1, sync: false }));
  // pino formats only the root's bindings; children (created from the root's prototype, so their
  // own children come through here too) get theirs redacted on the way in.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as typeof logger.child;
  return logger;
}
