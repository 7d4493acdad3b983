import * as v from 'valibot';
import { FileOptions } from '../destinations/file/options.ts';
import { HttpOptions } from '../destinations/http/options.ts';
import { PostgresOptions } from '../destinations/postgres/options.ts';
import { SlackOptions } from '../destinations/slack/options.ts';
import { EventKind, Leg, Provider } from '../telecmi/call-event.ts';
import {
  boolean,
  cidr,
  integer,
  isLinkLocalUrl,
  name,
  noLineBreak,
  nonEmptyText,
  urlWithScheme,
} from './fields.ts';

/**
 * The configuration file, as one valibot schema: it validates the YAML, gives the types
 * (`InferOutput`) and documents every key. Unknown keys are errors, so a typo cannot silently
 * fall back to a default.
 */

const oneOrMany = v.union([nonEmptyText, v.array(nonEmptyText)], 'expected a string or a list of strings');

/**
 * An app id or a phone number. YAML reads unquoted digits as a number, which keeps every digit only
 * up to 2^53: such a number is taken as its digits, a longer one must be quoted.
 */
const digits = v.pipe(
  v.union([v.string(), v.number()], 'expected a string or a number'),
  v.check(
    (value) =>
      typeof value === 'string'
        ? // As people write numbers: `+44 0000 000000`, `(020) 7946-0958`; at least one digit.
          /^\+?[\d\s().-]+$/.test(value) && /\d/.test(value)
        : Number.isSafeInteger(value) && value >= 0,
    'expected digits; quote a long number ("440000000000") so that YAML keeps every digit',
  ),
);
/** One or a list, as text. (Made text after the union, so that its own message comes through.) */
const oneOrManyDigits = v.pipe(
  v.union([digits, v.array(digits)], 'expected digits or a list of them'),
  v.transform((value) => [value].flat().map(String)),
);

/** "cdr, event or other". */
function alternatives(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

/**
 * One of a fixed set of values, or a list of them, in any case. A value outside it (`kind: cdrs`)
 * would match no event at all, silently: it is refused instead.
 */
function oneOrManyOf(values: readonly string[]) {
  const expected = `expected ${alternatives(values)}, or a list of them`;
  return v.pipe(
    v.union([v.string(), v.array(v.string())], expected),
    v.check((value) => [value].flat().every((item) => values.includes(item.toLowerCase())), expected),
  );
}

/** The directions TeleCMI documents (the agent leg of an incoming CHUB call says `outbound`). */
const DIRECTIONS = ['inbound', 'outbound'] as const;

/** The keys a filter matches on; `not` takes them too. */
const filterKeys = {
  kind: v.optional(oneOrManyOf(EventKind.options)),
  /** Open: TeleCMI adds statuses, and an unknown one passes through to the event. */
  status: v.optional(oneOrMany),
  direction: v.optional(oneOrManyOf(DIRECTIONS)),
  leg: v.optional(oneOrManyOf(Leg.wrapped.options)),
  team: v.optional(oneOrMany),
  user: v.optional(oneOrMany),
  provider: v.optional(oneOrManyOf(Provider.options)),
  /** TeleCMI app id(s): for an installation that receives several apps. */
  appId: v.optional(oneOrManyDigits),
  /** The virtual number (DID) called or calling out; compared by its digits only (`+44 …` works). */
  virtualNumber: v.optional(oneOrManyDigits),
  minAnsweredSec: v.optional(integer(0)),
};

/**
 * Which events a destination gets. Every key present must match; a list means "any of"; and an
 * event that matches every key of `not` is left out (`not: {leg: b}`), which a list cannot say.
 */
export const FilterConfig = v.strictObject({
  ...filterKeys,
  not: v.optional(
    v.pipe(
      v.strictObject(filterKeys),
      // An empty `not` matches every event: it would leave out everything.
      v.check((not) => Object.keys(not).length > 0, 'expected at least one key, such as {leg: b}'),
    ),
  ),
});

/** The most `retry.attempts` may be; delivery jobs are made with room for it (see delivery/retry.ts). */
export const MAX_RETRY_ATTEMPTS = 100;

export const RetryConfig = v.strictObject({
  /** Attempts in all, the first included. With the defaults the last one is about a day after the first. */
  attempts: v.optional(integer(1, MAX_RETRY_ATTEMPTS), 16),
  backoff: v.optional(
    v.picklist(['exponential', 'fixed'], 'expected "exponential" or "fixed"'),
    'exponential',
  ),
  /** The first retry's delay (the ceiling of its full jitter). */
  delayMs: v.optional(integer(0), 5_000),
  /** No delay exceeds this, Retry-After included. */
  maxDelayMs: v.optional(integer(0), 6 * 60 * 60 * 1000),
});

export const RateLimitConfig = v.strictObject({
  max: integer(1),
  perMs: integer(1),
});

/**
 * Holds a destination that keeps failing, so that an outage costs it a few requests instead of
 * every retry, and the deliveries not yet tried wait (without spending attempts) until it is back.
 */
export const CircuitBreakerConfig = v.strictObject({
  /** Retryable failures in a row, in one worker process, that open the circuit. */
  failures: v.optional(integer(1, 10_000), 10),
  /** How long an open circuit holds the destination; a failure after it opens it again. */
  pauseMs: v.optional(integer(1, 24 * 60 * 60 * 1000), 30_000),
});

/** What every destination has, whatever its type. */
const commonDestinationKeys = {
  name,
  filter: v.optional(FilterConfig, {}),
  retry: v.optional(RetryConfig, {}),
  /**
   * Deliveries in flight at once, per worker process. Batching types (postgres, file) need enough
   * for every batch being written plus the next one filling, hence the high ceiling.
   */
  concurrency: v.optional(integer(1, 50_000)),
  rateLimit: v.optional(RateLimitConfig),
  /** Off unless present (`circuitBreaker: {}` turns it on with its defaults). */
  circuitBreaker: v.optional(CircuitBreakerConfig),
  /**
   * Allow a URL that points at a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
   * metadata.google.internal). Off by default: such an address in a webhook URL is almost always an
   * attempt to reach the cloud provider's credentials endpoint.
   */
  allowLinkLocal: v.optional(boolean, false),
};

function destination<TEntries extends v.ObjectEntries>(options: v.ObjectSchema<TEntries, undefined>) {
  return v.strictObject({ ...commonDestinationKeys, ...options.entries });
}

export const DestinationConfig = v.variant(
  'type',
  [
    destination(HttpOptions),
    destination(SlackOptions),
    destination(PostgresOptions),
    destination(FileOptions),
  ],
  (issue) =>
    issue.expected
      ? `unknown destination type: expected ${issue.expected.replace(/^\((.*)\)$/, '$1')}`
      : 'expected a destination object',
);

export const RedisConfig = v.strictObject({
  url: v.optional(
    urlWithScheme(['redis', 'rediss']),
    () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  ),
  /** Prefix of every key this tool writes, so several installations can share one Redis. */
  prefix: v.optional(name, 'cdrf'),
});

const secretToken = v.pipe(
  v.string(),
  noLineBreak,
  v.check(
    (text) => text === '' || text.length >= 16,
    'expected at least 16 characters (or empty for no token)',
  ),
  v.transform((text) => (text === '' ? undefined : text)),
);

export const ReceiverConfig = v.strictObject({
  port: v.optional(integer(0, 65535), () => process.env.PORT ?? 3000),
  host: v.optional(nonEmptyText, '0.0.0.0'),
  path: v.optional(
    v.pipe(v.string(), v.regex(/^\/[A-Za-z0-9/_.-]*[A-Za-z0-9_.-]$/, 'expected a path such as /webhook/cdr')),
    '/webhook/cdr',
  ),
  /** Shared secret TeleCMI must send (`?token=`, last path segment, or `Authorization: Bearer`). Empty: none. */
  token: v.optional(secretToken),
  /**
   * The token being rotated out: accepted too, so that TeleCMI's dashboard and the receiver need not
   * change at the same instant. Remove it once the new token is in place.
   */
  previousToken: v.optional(secretToken),
  /** Only these peers may send. Empty: anyone. */
  allowIps: v.optional(v.array(cidr), []),
  /** Behind a proxy, take the client address from X-Forwarded-For: `true` (one proxy) or the number of proxies. */
  trustProxy: v.optional(
    v.union([boolean, integer(0, 10)], 'expected true, false or a number of proxies'),
    false,
  ),
  maxBodyBytes: v.optional(integer(256, 10 * 1024 * 1024), 65_536),
  /**
   * Where notifications are kept (appended and fsynced) while Redis is unavailable; drained into the
   * queue when it is back. Put it on a persistent disk.
   */
  spoolDir: v.optional(nonEmptyText, './data/spool'),
  /** A resend of a notification within this window is answered `duplicate: true` and not queued again. */
  dedupeWindowSec: v.optional(integer(1, 30 * 24 * 3600), 86_400),
});

export const WorkersConfig = v.strictObject({
  /**
   * How often a worker looks for jobs (deliveries, and notifications awaiting the fan-out) whose
   * worker died (their lock expired) and puts them back in the queue. Each check is one Redis
   * call per queue.
   */
  stalledIntervalMs: v.optional(integer(500, 600_000), 5_000),
  /**
   * Port of the worker process's own HTTP server for `/metrics` (Prometheus) and `/healthz`;
   * `0` turns it off. Not started by `npm start`, whose receiver serves `/metrics` for everything.
   */
  metricsPort: v.optional(integer(0, 65535), () => process.env.METRICS_PORT ?? 9464),
  /** The address that server listens on; `127.0.0.1` keeps it to the machine. */
  metricsHost: v.optional(nonEmptyText, '0.0.0.0'),
});

/** The queue dashboard (Bull Board) at `/admin/queues` on the receiver, behind HTTP basic auth. */
export const AdminConfig = v.strictObject({
  /** Basic-auth user name. */
  user: v.optional(nonEmptyText, 'admin'),
  /** Basic-auth password. Empty or unset: the dashboard is off (404), unless `allowAnonymous`. */
  password: v.optional(
    v.pipe(
      v.string('expected a string'),
      noLineBreak,
      v.transform((text) => (text === '' ? undefined : text)),
    ),
  ),
  /** Serve the dashboard without any password (only behind a proxy that authenticates). Ignored when a password is set. */
  allowAnonymous: v.optional(boolean, false),
});

/**
 * How long finished work stays in Redis, for Bull Board, `npm run trace`, `replay --delivered`
 * and `backfill`, and to keep a second fan-out of an event from making a second delivery. Dead
 * letters are never trimmed. What Redis needs grows with these (README: "persistence and sizing").
 */
export const RetentionConfig = v.strictObject({
  /** Delivered deliveries, and the call index of `trace --call`, are kept this many days... */
  deliveredDays: v.optional(integer(1, 365), 7),
  /** ...and at most this many delivered deliveries per destination (the oldest go first). */
  deliveredMax: v.optional(integer(10, 10_000_000), 100_000),
  /** The ingest jobs (the notifications as received) are kept this many hours once fanned out... */
  ingestHours: v.optional(integer(1, 24 * 365), 24),
  /** ...and at most this many of them (each holds up to 100 notifications). */
  ingestMaxJobs: v.optional(integer(10, 1_000_000), 10_000),
});

export const LoggingConfig = v.strictObject({
  /**
   * Log phone numbers in full. Log lines carry event ids, not call fields; this is about error
   * messages that quote a payload or a database row, whose numbers are otherwise masked (`••••0002`).
   */
  showNumbers: v.optional(boolean, false),
});

export const ForwarderConfig = v.pipe(
  v.strictObject({
    $schema: v.optional(v.string()),
    redis: v.optional(RedisConfig, {}),
    receiver: v.optional(ReceiverConfig, {}),
    workers: v.optional(WorkersConfig, {}),
    admin: v.optional(AdminConfig, {}),
    logging: v.optional(LoggingConfig, {}),
    retention: v.optional(RetentionConfig, {}),
    destinations: v.optional(v.array(DestinationConfig), []),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const config = dataset.value;
    // Issues about one key of one destination, with the path people read: destinations[2].url,
    // destinations[0].oauth2.tokenUrl.
    const destinationIssue = (index: number, keys: string | string[], message: string) => {
      const destination = config.destinations[index] as unknown as Record<string, unknown>;
      const path: v.IssuePathItem[] = [
        { type: 'object', origin: 'value', input: config, key: 'destinations', value: config.destinations },
        { type: 'array', origin: 'value', input: config.destinations, key: index, value: destination },
      ];
      let input = destination;
      for (const key of [keys].flat()) {
        const value = input[key];
        path.push({ type: 'object', origin: 'value', input, key, value });
        input = value as Record<string, unknown>;
      }
      addIssue({ message, path: path as [v.IssuePathItem, ...v.IssuePathItem[]] });
    };
    const LINK_LOCAL =
      'points at a link-local or cloud metadata address; set allowLinkLocal: true if you really mean it';
    const seen = new Set<string>();
    config.destinations.forEach((destination, index) => {
      // The one URL each type sends to (postgres: the database; slack: the webhook).
      const [key, url] =
        'webhookUrl' in destination
          ? ['webhookUrl', destination.webhookUrl]
          : 'url' in destination
            ? ['url', destination.url]
            : [];
      if (key && url && !destination.allowLinkLocal && isLinkLocalUrl(url)) {
        destinationIssue(index, key, LINK_LOCAL);
      }
      if (destination.type === 'http' && destination.oauth2) {
        if (!destination.allowLinkLocal && isLinkLocalUrl(destination.oauth2.tokenUrl)) {
          destinationIssue(index, ['oauth2', 'tokenUrl'], LINK_LOCAL);
        }
        const authorization = Object.keys(destination.headers).find(
          (header) => header.toLowerCase() === 'authorization',
        );
        if (authorization) {
          destinationIssue(
            index,
            ['headers', authorization],
            'oauth2 sets the Authorization header: remove this one, or oauth2',
          );
        }
      }
      if (destination.name === FANOUT_ROLE) {
        destinationIssue(
          index,
          'name',
          `"${FANOUT_ROLE}" names the fan-out (npm run worker -- --only ${FANOUT_ROLE}): choose another name`,
        );
      }
      if (seen.has(destination.name)) {
        destinationIssue(
          index,
          'name',
          `duplicate destination name "${destination.name}": names must be unique`,
        );
      }
      seen.add(destination.name);
    });
  }),
);

/** What `npm run worker -- --only` calls the fan-out; no destination may take the name. */
export const FANOUT_ROLE = 'fanout';

export type ForwarderConfig = v.InferOutput<typeof ForwarderConfig>;
export type DestinationConfig = v.InferOutput<typeof DestinationConfig>;
export type ReceiverConfig = v.InferOutput<typeof ReceiverConfig>;
export type AdminConfig = v.InferOutput<typeof AdminConfig>;
/** The config of one destination type, e.g. `DestinationConfigOf<'http'>`. */
export type DestinationConfigOf<TType extends DestinationConfig['type']> = Extract<
  DestinationConfig,
  { type: TType }
>;
export type FilterConfig = v.InferOutput<typeof FilterConfig>;
export type RetryConfig = v.InferOutput<typeof RetryConfig>;
export type RetentionConfig = v.InferOutput<typeof RetentionConfig>;
