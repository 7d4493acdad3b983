import { type JsonSchema, toJsonSchema } from '@valibot/to-json-schema';
import { ForwarderConfig } from './schema.ts';

/**
 * `config/forwarder.schema.json`, generated from the valibot schema (`npm run config:schema`), so
 * editors complete and check the YAML config (`# yaml-language-server: $schema=...`).
 *
 * JSON Schema describes the file as written, before `${ENV}` is filled in, so on top of the plain
 * conversion:
 * - whole numbers and booleans also accept their text forms, and every constrained value (a URL, a
 *   pattern, a number, an enum) also accepts a string containing `${`;
 * - defaults computed from the environment at run time (`$REDIS_URL`, `$PORT`) are left out, so
 *   the output is the same on every machine;
 * - descriptions (below) are added by key path.
 * Checks valibot cannot express in JSON Schema (CIDR blocks, unique names, URL schemes) are left
 * to `npm run config:check`.
 */

export const CONFIG_JSON_SCHEMA_FILE = 'config/forwarder.schema.json';

/** A string that will be filled in from the environment, defined once in `definitions`. */
const FROM_ENV_DEFINITION: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{',
  description: 'A value from the environment: ${VAR} or ${VAR:-default}.',
};
const FROM_ENV: Node = { $ref: '#/definitions/fromEnvironment' };

/**
 * Descriptions by key path: `destinations[]` applies to every destination type,
 * `destinations[http]` to one (it wins). A test checks that every path still exists.
 */
export const DESCRIPTIONS: Readonly<Record<string, string>> = {
  '': 'cdr-forwarder configuration. Every key is documented in README.md ("Configuration").',
  redis: 'Where the queues live.',
  'redis.url':
    'redis:// or rediss:// URL, with password if any. Default: $REDIS_URL, else redis://127.0.0.1:6379.',
  'redis.prefix': 'Prefix of every Redis key, so several installations can share one Redis.',
  receiver: 'The HTTP server TeleCMI sends notifications to.',
  'receiver.port': 'HTTP port. Default: $PORT, else 3000.',
  'receiver.host': 'Address to listen on.',
  'receiver.path': 'Where TeleCMI sends notifications.',
  'receiver.token':
    'Shared secret, 16 characters or more (empty: no token); sent as last path segment, ?token= or Authorization: Bearer. Use ${WEBHOOK_TOKEN}.',
  'receiver.allowIps': 'Addresses or CIDR blocks allowed to send, e.g. 203.0.113.0/24. Empty: anyone.',
  'receiver.trustProxy':
    'Behind a reverse proxy: true (one proxy) or the number of proxies; the client address is then read from X-Forwarded-For.',
  'receiver.maxBodyBytes': 'Larger bodies are refused with 413.',
  'receiver.spoolDir':
    'Where notifications are kept while Redis is unavailable, drained into the queue when it is back. Put it on a persistent disk.',
  'receiver.dedupeWindowSec':
    'A resend of a notification within this window is answered "duplicate": true and not queued again.',
  workers: 'Settings of the worker processes.',
  'workers.stalledIntervalMs':
    'How often a worker looks for jobs (deliveries, notifications awaiting the fan-out) whose worker died and puts them back in the queue.',
  'workers.metricsPort':
    "Port of a worker process's own HTTP server for /metrics and /healthz; 0 turns it off. Default: $METRICS_PORT, else 9464.",
  'workers.metricsHost':
    'The address that server listens on: 0.0.0.0 (all), or 127.0.0.1 to keep it to the machine.',
  admin: 'The queue dashboard (Bull Board) at /admin/queues on the receiver, behind HTTP basic auth.',
  'admin.user': 'Basic-auth user name.',
  'admin.password': 'Basic-auth password. Empty or unset: the dashboard is off, unless allowAnonymous.',
  'admin.allowAnonymous':
    'Serve the dashboard without any password (only behind a proxy that authenticates). Ignored when a password is set.',
  retention:
    'How long finished work stays in Redis (Bull Board, trace, replay --delivered, backfill). Dead letters are never trimmed.',
  'retention.deliveredDays':
    'Delivered deliveries, and the call index of trace --call, are kept this many days.',
  'retention.deliveredMax':
    'At most this many delivered deliveries are kept per destination; the oldest go first.',
  'retention.ingestHours':
    'Ingest jobs (the notifications as received) are kept this many hours once fanned out.',
  'retention.ingestMaxJobs': 'At most this many ingest jobs are kept (each holds up to 100 notifications).',
  logging: 'What log lines may contain.',
  'logging.showNumbers': 'Log phone numbers in full in error messages (otherwise masked, ••••0002).',
  destinations: 'Where each call event goes: http, slack, postgres or file.',
  'destinations[].name': 'Letters, digits, "-" and "_"; unique. Used in queue names and --only.',
  'destinations[].type': 'http, slack, postgres or file.',
  'destinations[].filter':
    'Which events this destination gets; every key present must match, a list means "any of". Default: everything.',
  'destinations[].filter.kind': 'cdr, event or other.',
  'destinations[].filter.direction': 'inbound or outbound.',
  'destinations[].filter.leg': 'a or b.',
  'destinations[].filter.provider': 'chub or piopiy.',
  'destinations[].filter.not':
    "Events that match every key given here are left out, e.g. {leg: b}: the agents' own CDRs of an incoming call.",
  'destinations[].filter.appId': 'TeleCMI app id(s).',
  'destinations[].filter.virtualNumber':
    'Virtual number(s) (DIDs), compared by digits only. Quote a number beyond 9,007,199,254,740,991 (2^53 - 1).',
  'destinations[].filter.minAnsweredSec': 'answeredSec at least this (a missing value counts as 0).',
  'destinations[].retry':
    'Retry policy: with the defaults, the last attempt comes about a day after the first.',
  'destinations[].retry.attempts': 'Attempts in all, the first included.',
  'destinations[].retry.backoff': 'exponential (the ceiling doubles each time) or fixed.',
  'destinations[].retry.delayMs': "The first retry's ceiling (each wait is random up to its ceiling).",
  'destinations[].retry.maxDelayMs': 'No wait is longer, Retry-After included.',
  'destinations[].concurrency':
    'Deliveries in flight per worker process. Default per type: http 10, slack 1, postgres 4 x batch.size (3 batches written at once, 1 filling), file 1000 (a batch of 500 written, 1 filling).',
  'destinations[].rateLimit':
    '{max, perMs}: at most max deliveries per perMs across all workers of this destination. Slack default: {max: 1, perMs: 1000}.',
  'destinations[].circuitBreaker':
    'Off unless present ({} for the defaults): after failures retryable failures in a row, no delivery goes to the destination for pauseMs (all worker processes); a failure after that holds it again, a success ends it.',
  'destinations[].circuitBreaker.failures':
    'Retryable failures in a row, in one worker process, that open the circuit.',
  'destinations[].circuitBreaker.pauseMs': 'How long an open circuit holds the destination.',
  'destinations[http]': 'type: http: a CRM or any webhook.',
  'destinations[http].url':
    'http:// or https:// URL the event is sent to; {{field}} in its path or query is filled from each event, percent-encoded.',
  'destinations[http].headers':
    'Extra request headers, e.g. {Authorization: "Bearer ${CRM_TOKEN}"}; values may name event fields, e.g. {Idempotency-Key: "{{id}}"}.',
  'destinations[].timeoutMs': 'Per attempt (postgres: per statement).',
  'destinations[http].signingSecret':
    'A Standard Webhooks secret (whsec_...): adds a webhook-signature header. Empty: no signature.',
  'destinations[http].previousSigningSecret':
    'The secret being rotated out (whsec_...): requests carry its signature too, so the endpoint can switch at its own pace. Remove it once it has.',
  'destinations[http].oauth2':
    'An OAuth 2 access token for every request (Authorization: <tokenPrefix> <token>), fetched from tokenUrl and renewed before it expires.',
  'destinations[http].oauth2.tokenUrl': 'The token endpoint, e.g. https://accounts.zoho.in/oauth/v2/token.',
  'destinations[http].oauth2.clientId': 'The OAuth client id.',
  'destinations[http].oauth2.clientSecret': 'The OAuth client secret; use ${VAR}.',
  'destinations[http].oauth2.refreshToken':
    'With it, the refresh token grant (Zoho CRM self client); without it, client credentials. Use ${VAR}.',
  'destinations[http].oauth2.scope': 'Scope to ask for (space-separated).',
  'destinations[http].oauth2.clientAuth':
    'How the client authenticates to tokenUrl: body (client_id and client_secret form fields) or basic (HTTP basic auth).',
  'destinations[http].oauth2.tokenPrefix':
    'The word before the token in Authorization (Zoho CRM: Zoho-oauthtoken).',
  'destinations[http].deliveredStatuses':
    'Statuses besides 2xx that count as delivered, e.g. [409] for an endpoint that answers a resend it already has so.',
  'destinations[].proxy':
    'Send through this HTTP proxy (CONNECT tunnel), e.g. http://user:password@proxy.internal:3128 or ${HTTPS_PROXY:-}. Empty: straight.',
  'destinations[http].tls':
    'TLS to the destination and its token endpoint: paths of PEM files, read at start-up.',
  'destinations[http].tls.ca': 'A private CA to trust besides the usual ones (a CRM on a company network).',
  'destinations[http].tls.cert':
    'A client certificate, for a destination that asks for one (mutual TLS); with key.',
  'destinations[http].tls.key': "The client certificate's private key.",
  'destinations[].template':
    'Any YAML value in which strings may name call-event fields as {{field}}; replaces the default body.',
  'destinations[slack]': 'type: slack: a message per event through an incoming webhook.',
  'destinations[slack].webhookUrl': 'A Slack incoming-webhook URL.',
  'destinations[slack].maskNumbers': 'Show only the last 4 digits of phone numbers.',
  'destinations[postgres]': 'type: postgres: the warehouse, one row per event.',
  'destinations[postgres].url': 'postgres://user:password@host:5432/db',
  'destinations[postgres].table': 'table or schema.table; created when missing.',
  'destinations[postgres].batch': 'Rows are written in micro-batches: {size, waitMs}.',
  'destinations[file]': 'type: file: an NDJSON archive, one file per UTC day.',
  'destinations[file].path': 'A folder, created when missing.',
};

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The JSON Schema of the config file, as committed in `config/forwarder.schema.json`. */
export function configJsonSchema(): JsonSchema {
  const generated = toJsonSchema(ForwarderConfig, {
    // The file holds the input: stop each pipe before its transform (`''` -> no token...).
    typeMode: 'input',
    // Custom checks and transforms have no JSON Schema equivalent; valibot still runs them.
    errorMode: 'ignore',
    overrideAction({ valibotAction, jsonSchema }) {
      // JSON Schema patterns have no flags: spell out `/i` for the letter ranges our patterns use.
      const requirement: unknown = 'requirement' in valibotAction ? valibotAction.requirement : undefined;
      if (
        valibotAction.type === 'regex' &&
        requirement instanceof RegExp &&
        requirement.flags.includes('i')
      ) {
        return { ...jsonSchema, pattern: requirement.source.replaceAll('a-z', 'a-zA-Z') };
      }
      return undefined;
    },
    overrideSchema({ valibotSchema, jsonSchema }) {
      // A default computed at run time (from the environment) would make the file machine-specific.
      if ('default' in valibotSchema && typeof valibotSchema.default === 'function') {
        const { default: _computed, ...rest } = jsonSchema;
        return rest;
      }
      return undefined;
    },
  }) as Node;
  const { $schema, ...body } = generated;
  const root: Node = { $schema, title: 'cdr-forwarder configuration', ...body };
  annotate(root, '', new Set());
  return {
    ...acceptEnvironment(root),
    definitions: { fromEnvironment: FROM_ENV_DEFINITION },
  } as JsonSchema;
}

/** The text of `config/forwarder.schema.json`. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** Every key path of the generated schema, in the notation of `DESCRIPTIONS`. */
export function configKeyPaths(): Set<string> {
  const paths = new Set<string>();
  annotate(configJsonSchema() as Node, '', paths, true);
  return paths;
}

function annotate(node: Node, path: string, seen: Set<string>, collectOnly = false): void {
  if (collectOnly) seen.add(path).add(path.replace(/\[[a-z]+\]/g, '[]'));
  else {
    const description = DESCRIPTIONS[path] ?? DESCRIPTIONS[path.replace(/\[[a-z]+\]/g, '[]')];
    if (description !== undefined) node.description = description;
  }
  if (isNode(node.properties)) {
    for (const [key, child] of Object.entries(node.properties)) {
      if (isNode(child)) annotate(child, path === '' ? key : `${path}.${key}`, seen, collectOnly);
    }
  }
  if (isNode(node.items)) annotate(node.items, `${path}[]`, seen, collectOnly);
  for (const branch of [node.oneOf, node.anyOf].flat()) {
    if (!isNode(branch) || !isNode(branch.properties)) continue;
    const type = isNode(branch.properties.type) ? branch.properties.type.const : undefined;
    // A destination type: `destinations[http]`.
    const branchPath = typeof type === 'string' ? path.replace(/\[\]$/, `[${type}]`) : path;
    annotate(branch, branchPath, seen, collectOnly);
  }
}

const ANNOTATIONS = ['title', 'description', 'default', 'examples'];
const NUMERIC = ['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];

function isScalar(node: Node): boolean {
  if (node.$ref === FROM_ENV.$ref) return true;
  if (Array.isArray(node.anyOf)) return node.anyOf.every((branch) => isNode(branch) && isScalar(branch));
  return ['string', 'number', 'integer', 'boolean'].includes(node.type as string) || 'enum' in node;
}

/** A scalar whose value a string such as `${PORT}` could not satisfy as it stands. */
function isConstrainedScalar(node: Node): boolean {
  // `${VAR}` has a length, so minLength alone does not count.
  if (node.type === 'string') return ['pattern', 'format', 'enum'].some((k) => k in node);
  return isScalar(node) && !('const' in node);
}

/** Rewrites the schema for the file as written: see the comment at the top. */
function acceptEnvironment(node: Node): Node {
  const out: Node = { ...node };
  if (isNode(out.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([key, child]) => [
        key,
        isNode(child) ? acceptEnvironment(child) : child,
      ]),
    );
  }
  if (isNode(out.items)) out.items = acceptEnvironment(out.items);
  if (isNode(out.additionalProperties))
    out.additionalProperties = acceptEnvironment(out.additionalProperties);
  for (const key of ['oneOf', 'allOf'] as const) {
    if (Array.isArray(out[key])) out[key] = (out[key] as Node[]).map(acceptEnvironment);
  }

  if (Array.isArray(out.anyOf)) {
    // valibot's `integer()` is a union (number | numeric text) with the integer, minimum and maximum
    // on the union: JSON Schema needs them on the number branch, or the text branch never matches.
    const numeric = Object.fromEntries(
      NUMERIC.filter((k) => k in out && !(k === 'maximum' && Number(out[k]) >= Number.MAX_SAFE_INTEGER)).map(
        (k) => [k, out[k]],
      ),
    );
    for (const k of NUMERIC) delete out[k];
    const branches = (out.anyOf as Node[]).flatMap((branch) => {
      const fixed = acceptEnvironment(branch);
      // Nested unions (trustProxy: boolean | integer) become one flat list.
      const nested =
        Array.isArray(fixed.anyOf) &&
        Object.keys(fixed).every((k) => k === 'anyOf' || ANNOTATIONS.includes(k));
      return nested ? (fixed.anyOf as Node[]) : [fixed];
    });
    out.anyOf = branches
      .map((branch) =>
        branch.type === 'number' && Object.keys(numeric).length > 0 ? { ...branch, ...numeric } : branch,
      )
      .filter((branch) => JSON.stringify(branch) !== JSON.stringify(FROM_ENV));
    if (isScalar(out)) (out.anyOf as Node[]).push(FROM_ENV);
    return out;
  }

  if (isConstrainedScalar(out)) {
    const annotations = Object.fromEntries(ANNOTATIONS.filter((k) => k in out).map((k) => [k, out[k]]));
    const value = Object.fromEntries(Object.entries(out).filter(([k]) => !ANNOTATIONS.includes(k)));
    return { anyOf: [value, FROM_ENV], ...annotations };
  }
  return out;
}
