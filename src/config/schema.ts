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
    v.description(`${alternatives(values)}.`),
  );
}

/** The directions TeleCMI documents (the agent leg of an incoming CHUB call says `outbound`). */
const DIRECTIONS = ['inbound', 'outbound'] as const;

/** The keys a filter matches on; `not` takes them too. */
const filterKeys = {
  kind: v.optional(oneOrManyOf(EventKind.options)),
  // Open: TeleCMI adds statuses, and an unknown one passes through to the event.
  status: v.pipe(
    v.optional(oneOrMany),
    v.description('Status(es), e.g. missed or answered: any text, since TeleCMI adds new ones.'),
  ),
  direction: v.optional(oneOrManyOf(DIRECTIONS)),
  leg: v.optional(oneOrManyOf(Leg.wrapped.options)),
  team: v.pipe(v.optional(oneOrMany), v.description('Team(s), e.g. Sales_2222223.')),
  user: v.pipe(v.optional(oneOrMany), v.description('Agent(s): the user id, e.g. 204_2222223.')),
  provider: v.optional(oneOrManyOf(Provider.options)),
  appId: v.pipe(v.optional(oneOrManyDigits), v.description('TeleCMI app id(s).')),
  virtualNumber: v.pipe(
    v.optional(oneOrManyDigits),
    v.description(
      'Virtual number(s) (DIDs), compared by digits only. Quote a number beyond 9,007,199,254,740,991 (2^53 - 1).',
    ),
  ),
  minAnsweredSec: v.pipe(
    v.optional(integer(0)),
    v.description('answeredSec at least this (a missing value counts as 0).'),
  ),
};

/** A list cannot say "leave out what matches all of these" (`not: {leg: b}`): hence `not`. */
export const FilterConfig = v.strictObject({
  ...filterKeys,
  not: v.pipe(
    v.optional(
      v.pipe(
        v.strictObject(filterKeys),
        // An empty `not` matches every event: it would leave out everything.
        v.check((not) => Object.keys(not).length > 0, 'expected at least one key, such as {leg: b}'),
      ),
    ),
    v.description(
      "Events that match every key given here are left out, e.g. {leg: b}: the agents' own CDRs of an incoming call.",
    ),
  ),
});

/** The most `retry.attempts` may be; delivery jobs are made with room for it (see delivery/retry.ts). */
export const MAX_RETRY_ATTEMPTS = 100;

export const RetryConfig = v.strictObject({
  attempts: v.pipe(
    v.optional(integer(1, MAX_RETRY_ATTEMPTS), 16),
    v.description('Attempts in all, the first included.'),
  ),
  backoff: v.pipe(
    v.optional(v.picklist(['exponential', 'fixed'], 'expected "exponential" or "fixed"'), 'exponential'),
    v.description('exponential (the ceiling doubles each time) or fixed.'),
  ),
  delayMs: v.pipe(
    v.optional(integer(0), 5_000),
    v.description("The first retry's ceiling (each wait is random up to its ceiling)."),
  ),
  maxDelayMs: v.pipe(
    v.optional(integer(0), 6 * 60 * 60 * 1000),
    v.description('No wait is longer, Retry-After included.'),
  ),
});

export const RateLimitConfig = v.strictObject({
  max: v.pipe(integer(1), v.description('At most this many deliveries per perMs.')),
  perMs: v.pipe(integer(1), v.description('The window of max, in milliseconds.')),
});

/**
 * Holds a destination that keeps failing, so that an outage costs it a few requests instead of
 * every retry, and the deliveries not yet tried wait (without spending attempts) until it is back.
 */
export const CircuitBreakerConfig = v.strictObject({
  failures: v.pipe(
    v.optional(integer(1, 10_000), 10),
    v.description('Retryable failures in a row, in one worker process, that open the circuit.'),
  ),
  pauseMs: v.pipe(
    v.optional(integer(1, 24 * 60 * 60 * 1000), 30_000),
    v.description('How long an open circuit holds the destination.'),
  ),
});

/** The destination types, each with its options (`DestinationConfig` below lists the same). */
const DESTINATION_OPTIONS = [HttpOptions, SlackOptions, PostgresOptions, FileOptions] as const;
const DESTINATION_TYPES = alternatives(DESTINATION_OPTIONS.map((options) => options.entries.type.literal));

/** What every destination has, whatever its type. */
const commonDestinationKeys = {
  name: v.pipe(name, v.description('Letters, digits, "-" and "_"; unique. Used in queue names and --only.')),
  filter: v.pipe(
    v.optional(FilterConfig, {}),
    v.description(
      'Which events this destination gets; every key present must match, a list means "any of". Default: everything.',
    ),
  ),
  retry: v.pipe(
    v.optional(RetryConfig, {}),
    v.description('Retry policy: with the defaults, the last attempt comes about a day after the first.'),
  ),
  // Batching types (postgres, file) need enough for every batch being written plus the next one
  // filling, hence the high ceiling.
  concurrency: v.pipe(
    v.optional(integer(1, 50_000)),
    v.description(
      'Deliveries in flight per worker process. Default per type: http 10, slack 1, postgres 4 x batch.size (3 batches written at once, 1 filling), file 1000 (a batch of 500 written, 1 filling).',
    ),
  ),
  rateLimit: v.pipe(
    v.optional(RateLimitConfig),
    v.description(
      '{max, perMs}: at most max deliveries per perMs across all workers of this destination. Slack default: {max: 1, perMs: 1000}.',
    ),
  ),
  circuitBreaker: v.pipe(
    v.optional(CircuitBreakerConfig),
    v.description(
      'Off unless present ({} for the defaults): after failures retryable failures in a row, no delivery goes to the destination for pauseMs (all worker processes); a failure after that holds it again, a success ends it.',
    ),
  ),
  // Off by default: such an address in a webhook URL is almost always an attempt to reach the
  // cloud provider's credentials endpoint.
  allowLinkLocal: v.pipe(
    v.optional(boolean, false),
    v.description(
      'Allow a URL that points at a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, metadata.google.internal).',
    ),
  ),
};

/** A destination type's options (described), with the common keys. */
function destination<TType extends string, TEntries extends v.ObjectEntries>(
  options: v.SchemaWithPipe<
    readonly [
      v.ObjectSchema<TEntries & { type: v.LiteralSchema<TType, undefined> }, undefined>,
      v.DescriptionAction<unknown, string>,
    ]
  >,
) {
  const [, { description }] = options.pipe;
  return v.pipe(
    v.strictObject({
      ...commonDestinationKeys,
      ...options.entries,
      type: v.pipe(options.entries.type, v.description(`${DESTINATION_TYPES}.`)),
    }),
    v.description(description),
  );
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

export const RedisConfig = v.pipe(
  v.strictObject({
    url: v.pipe(
      v.optional(urlWithScheme(['redis', 'rediss']), () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
      v.description(
        'redis:// or rediss:// URL, with password if any. Default: $REDIS_URL, else redis://127.0.0.1:6379.',
      ),
    ),
    prefix: v.pipe(
      v.optional(name, 'cdrf'),
      v.description('Prefix of every Redis key, so several installations can share one Redis.'),
    ),
  }),
  v.description('Where the queues live.'),
);

const secretToken = v.pipe(
  v.string(),
  noLineBreak,
  v.check(
    (text) => text === '' || text.length >= 16,
    'expected at least 16 characters (or empty for no token)',
  ),
  v.transform((text) => (text === '' ? undefined : text)),
);

export const ReceiverConfig = v.pipe(
  v.strictObject({
    port: v.pipe(
      v.optional(integer(0, 65535), () => process.env.PORT ?? 3000),
      v.description('HTTP port. Default: $PORT, else 3000.'),
    ),
    host: v.pipe(v.optional(nonEmptyText, '0.0.0.0'), v.description('Address to listen on.')),
    path: v.pipe(
      v.optional(
        v.pipe(
          v.string(),
          v.regex(/^\/[A-Za-z0-9/_.-]*[A-Za-z0-9_.-]$/, 'expected a path such as /webhook/cdr'),
        ),
        '/webhook/cdr',
      ),
      v.description('Where TeleCMI sends notifications.'),
    ),
    token: v.pipe(
      v.optional(secretToken),
      v.description(
        'Shared secret, 16 characters or more (empty: no token); sent as last path segment, ?token= or Authorization: Bearer. Use ${WEBHOOK_TOKEN}.',
      ),
    ),
    previousToken: v.pipe(
      v.optional(secretToken),
      v.description(
        "The token being rotated out: accepted too, so that TeleCMI's dashboard and the receiver need not change at the same instant. Remove it once the new token is in place.",
      ),
    ),
    allowIps: v.pipe(
      v.optional(v.array(cidr), []),
      v.description('Addresses or CIDR blocks allowed to send, e.g. 203.0.113.0/24. Empty: anyone.'),
    ),
    trustProxy: v.pipe(
      v.optional(v.union([boolean, integer(0, 10)], 'expected true, false or a number of proxies'), false),
      v.description(
        'Behind a reverse proxy: true (one proxy) or the number of proxies; the client address is then read from X-Forwarded-For.',
      ),
    ),
    maxBodyBytes: v.pipe(
      v.optional(integer(256, 10 * 1024 * 1024), 65_536),
      v.description('Larger bodies are refused with 413.'),
    ),
    spoolDir: v.pipe(
      v.optional(nonEmptyText, './data/spool'),
      v.description(
        'Where notifications are kept while Redis is unavailable, drained into the queue when it is back. Put it on a persistent disk.',
      ),
    ),
    dedupeWindowSec: v.pipe(
      v.optional(integer(1, 30 * 24 * 3600), 86_400),
      v.description(
        'A resend of a notification within this window is answered "duplicate": true and not queued again.',
      ),
    ),
  }),
  v.description('The HTTP server TeleCMI sends notifications to.'),
);

export const WorkersConfig = v.pipe(
  v.strictObject({
    // Each check is one Redis call per queue.
    stalledIntervalMs: v.pipe(
      v.optional(integer(500, 600_000), 5_000),
      v.description(
        'How often a worker looks for jobs (deliveries, notifications awaiting the fan-out) whose worker died and puts them back in the queue.',
      ),
    ),
    // Not started by `npm start`, whose receiver serves `/metrics` for everything.
    metricsPort: v.pipe(
      v.optional(integer(0, 65535), () => process.env.METRICS_PORT ?? 9464),
      v.description(
        "Port of a worker process's own HTTP server for /metrics, /healthz and /readyz; 0 turns it off. Default: $METRICS_PORT, else 9464.",
      ),
    ),
    metricsHost: v.pipe(
      v.optional(nonEmptyText, '0.0.0.0'),
      v.description(
        'The address that server listens on: 0.0.0.0 (all), or 127.0.0.1 to keep it to the machine.',
      ),
    ),
  }),
  v.description('Settings of the worker processes.'),
);

export const AdminConfig = v.pipe(
  v.strictObject({
    user: v.pipe(v.optional(nonEmptyText, 'admin'), v.description('Basic-auth user name.')),
    password: v.pipe(
      v.optional(
        v.pipe(
          v.string('expected a string'),
          noLineBreak,
          v.transform((text) => (text === '' ? undefined : text)),
        ),
      ),
      v.description('Basic-auth password. Empty or unset: the dashboard is off, unless allowAnonymous.'),
    ),
    allowAnonymous: v.pipe(
      v.optional(boolean, false),
      v.description(
        'Serve the dashboard without any password (only behind a proxy that authenticates). Ignored when a password is set.',
      ),
    ),
  }),
  v.description('The queue dashboard (Bull Board) at /admin/queues on the receiver, behind HTTP basic auth.'),
);

/**
 * Finished work is also what keeps a second fan-out of an event from making a second delivery.
 * What Redis needs grows with these (README: "persistence and sizing").
 */
export const RetentionConfig = v.pipe(
  v.strictObject({
    deliveredDays: v.pipe(
      v.optional(integer(1, 365), 7),
      v.description('Delivered deliveries, and the call index of trace --call, are kept this many days.'),
    ),
    deliveredMax: v.pipe(
      v.optional(integer(10, 10_000_000), 100_000),
      v.description('At most this many delivered deliveries are kept per destination; the oldest go first.'),
    ),
    ingestHours: v.pipe(
      v.optional(integer(1, 24 * 365), 24),
      v.description('Ingest jobs (the notifications as received) are kept this many hours once fanned out.'),
    ),
    ingestMaxJobs: v.pipe(
      v.optional(integer(10, 1_000_000), 10_000),
      v.description('At most this many ingest jobs are kept (each holds up to 100 notifications).'),
    ),
  }),
  v.description(
    'How long finished work stays in Redis (Bull Board, trace, replay --delivered, backfill). Dead letters are never trimmed.',
  ),
);

export const LoggingConfig = v.pipe(
  v.strictObject({
    // Log lines carry event ids, not call fields: this is about error messages that quote a
    // payload or a database row.
    showNumbers: v.pipe(
      v.optional(boolean, false),
      v.description('Log phone numbers in full in error messages (otherwise masked, ••••0002).'),
    ),
  }),
  v.description('What log lines may contain.'),
);

export const ForwarderConfig = v.pipe(
  v.strictObject({
    $schema: v.pipe(
      v.optional(v.string()),
      v.description(
        'The JSON Schema of this file, for editors that read it from the file (the forwarder ignores it).',
      ),
    ),
    redis: v.optional(RedisConfig, {}),
    receiver: v.optional(ReceiverConfig, {}),
    workers: v.optional(WorkersConfig, {}),
    admin: v.optional(AdminConfig, {}),
    logging: v.optional(LoggingConfig, {}),
    retention: v.optional(RetentionConfig, {}),
    destinations: v.pipe(
      v.optional(v.array(DestinationConfig), []),
      v.description(`Where each call event goes: ${DESTINATION_TYPES}.`),
    ),
  }),
  v.description('cdr-forwarder configuration. Every key is documented in README.md ("Configuration").'),
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
