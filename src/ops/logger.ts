import pino, { type DestinationStream, type Logger } from 'pino';
import { maskNumbersInText } from '../telecmi/mask.ts';
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
 * Slack webhook URLs. Deeper wildcards cost several microseconds per line on the request path.
 */
const SECRET_KEYS = [
  'authorization',
  'token',
  'password',
  'secret',
  'signingSecret',
  'headers',
  'webhookUrl',
  'connectionString',
];
/** Keys holding URLs: kept, but with their password (and any `token` parameter) hidden. */
const URL_KEYS = ['url'];

const REDACTED = '[redacted]';

function atTopAndOneDown(keys: string[]): string[] {
  return keys.flatMap((key) => [key, `*.${key}`]);
}

/** A URL keeps its host and path; its password and `token` go, and what is not a URL goes whole. */
function censorUrl(value: unknown): unknown {
  return typeof value === 'string' ? (redactUrl(value) ?? REDACTED) : value;
}

/** Every string in an (already serialised) error, with phone numbers masked. */
function maskStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskNumbersInText(value);
  if (depth > 3 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => maskStrings(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = maskStrings(item, depth + 1);
  return out;
}

/**
 * JSON lines on stdout; the level comes from LOG_LEVEL (default info). Secrets are redacted by key
 * (`token`, `password`, `headers`, `webhookUrl`, URL passwords, …), and phone numbers that an
 * error message quotes (an endpoint echoing the payload, a database row) are masked unless
 * `showNumbers`. Log lines otherwise carry event ids, never event fields.
 */
export function createLogger(bindings: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const errSerializer = (err: unknown): unknown => {
    const serialised = err instanceof Error ? pino.stdSerializers.err(err) : err;
    return options.showNumbers ? serialised : maskStrings(serialised);
  };
  const settings: pino.LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { ...bindings },
    serializers: { err: errSerializer },
    redact: {
      paths: atTopAndOneDown([...SECRET_KEYS, ...URL_KEYS]),
      censor: (value, path) => (URL_KEYS.includes(path.at(-1) ?? '') ? censorUrl(value) : REDACTED),
    },
  };
  // stdout asynchronously: lines written while a write is in flight go out together, instead of one
  // write system call per line on the request path. `runMain` flushes before the process exits.
  return pino(settings, options.destination ?? pino.destination({ dest: 1, sync: false }));
}
