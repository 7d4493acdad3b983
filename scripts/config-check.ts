/**
 * `npm run config:check [file]` (default `$FORWARDER_CONFIG`, else config/forwarder.yaml): validates
 * the config and prints what it will do, one line per destination. Never prints a secret: URLs lose
 * their password and query values, tokens and headers are shown as set or not. A mistake prints the
 * problems (no stack trace) and exits 2, like the processes do at start-up.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import {
  ConfigError,
  configFileFromEnv,
  type DestinationConfig,
  type DestinationConfigOf,
  type FilterConfig,
  type ForwarderConfig,
  loadConfig,
  type RetryConfig,
} from '../src/config/index.ts';
import { formatPath, interpolateTree, type PathSegment } from '../src/config/interpolate.ts';
import { destinationTypeOf } from '../src/destinations/registry.ts';
import { exitOnHelp } from '../src/ops/main.ts';
import { HARMLESS_QUERY, redactUrl as redactedUrl } from '../src/ops/redact.ts';
import { fail } from './cli.ts';

const USAGE =
  'usage: npm run config:check [-- FILE]   (default: $FORWARDER_CONFIG, else config/forwarder.yaml)';
exitOnHelp(USAGE);
const file = fileArgument() ?? configFileFromEnv();

/** The one file named, if any; a flag or a second file is a usage mistake (exit 2). */
function fileArgument(): string | undefined {
  try {
    const { positionals } = parseArgs({ options: {}, allowPositionals: true });
    if (positionals.length > 1) throw new Error(`one file at most; got ${positionals.length}`);
    return positionals[0];
  } catch (error) {
    return fail('config:check', `${(error as Error).message}\n${USAGE}`);
  }
}

/** A URL without its password, query values or secret-looking path segments. */
function redactUrl(text: string): string {
  const redacted = redactedUrl(text, '…');
  if (redacted === undefined) return '(not a URL)';
  const url = new URL(redacted);
  if (url.hostname === 'hooks.slack.com') return 'hooks.slack.com/…';
  // Long random segments are usually tokens (`/hooks/catch/123/abcDEF123…`).
  url.pathname = url.pathname
    .split('/')
    .map((segment) => (segment.length >= 16 && /\d/.test(segment) && /[a-z]/i.test(segment) ? '…' : segment))
    .join('/');
  return decodeURI(url.toString());
}

function duration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** "cdr, status missed or answered, leg a" / "everything". */
function describeFilter(filter: FilterConfig): string {
  const { not, ...keys } = filter;
  const described = describeKeys(keys);
  if (not === undefined) return described ?? 'everything';
  return `${described ?? 'everything'}, not (${describeKeys(not)})`;
}

/** "cdr, status missed, direction inbound", or undefined for no key. */
function describeKeys(filter: Omit<FilterConfig, 'not'>): string | undefined {
  const any = (value: unknown) => [value].flat().join(' or ');
  const parts: string[] = [];
  // In the schema's order: kind first.
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === 'kind') parts.push(any(value));
    else if (key === 'minAnsweredSec') parts.push(`answered ${value} s or more`);
    else parts.push(`${key} ${any(value)}`);
  }
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** "16 attempts, exponential from 5 s up to 6 h, rate limit 1/1 s, concurrency 1". */
function describeDelivery(destination: DestinationConfig): string {
  const retry: RetryConfig = destination.retry;
  const type = destinationTypeOf(destination);
  const parts = [retry.attempts === 1 ? '1 attempt (no retry)' : `${retry.attempts} attempts`];
  if (retry.attempts > 1) {
    parts.push(
      retry.backoff === 'exponential'
        ? `exponential from ${duration(retry.delayMs)} up to ${duration(retry.maxDelayMs)}`
        : `fixed ${duration(Math.min(retry.delayMs, retry.maxDelayMs))}`,
    );
  }
  const rateLimit = destination.rateLimit ?? type.defaultRateLimit;
  if (rateLimit) parts.push(`rate limit ${rateLimit.max}/${duration(rateLimit.perMs)}`);
  const breaker = destination.circuitBreaker;
  if (breaker)
    parts.push(`circuit breaker: ${breaker.failures} failures in a row hold it ${duration(breaker.pauseMs)}`);
  parts.push(`concurrency ${destination.concurrency ?? type.defaultConcurrency(destination)}`);
  return parts.join(', ');
}

/** `signed`, or `signed twice` while a previous secret is being rotated out. */
function signedWith(destination: DestinationConfigOf<'http'>): string | undefined {
  const secrets = [destination.signingSecret, destination.previousSigningSecret].filter(Boolean);
  return secrets.length === 2
    ? 'signed twice (signingSecret, previousSigningSecret)'
    : secrets.length === 1
      ? 'signed'
      : undefined;
}

/** A Slack webhook's path is its secret, whatever the host (a relay, a test server): only the host. */
function slackWebhook(text: string): string {
  const url = new URL(text);
  return url.hostname === 'hooks.slack.com' ? 'hooks.slack.com/…' : `${url.origin}/…`;
}

function target(destination: DestinationConfig): string {
  switch (destination.type) {
    case 'http': {
      const extras = [
        destination.method,
        Object.keys(destination.headers).length > 0
          ? `headers ${Object.keys(destination.headers).join(', ')}`
          : undefined,
        signedWith(destination),
        destination.oauth2 ? `OAuth 2 token from ${redactUrl(destination.oauth2.tokenUrl)}` : undefined,
        destination.proxy ? `through proxy ${redactUrl(destination.proxy)}` : undefined,
        destination.tls?.ca ? 'private CA' : undefined,
        destination.tls?.cert ? 'client certificate' : undefined,
        destination.template !== undefined ? 'template' : undefined,
      ].filter(Boolean);
      return `${redactUrl(destination.url)} (${extras.join(', ')})`;
    }
    case 'slack':
      return slackWebhook(destination.webhookUrl);
    case 'postgres':
      return `${redactUrl(destination.url)} table ${destination.table}`;
    case 'file':
      return destination.path;
  }
}

/** What the config will do, one line a part (the file's name is not part of it). */
function describeConfig(config: ForwarderConfig): string[] {
  const { receiver } = config;
  const lines = [
    `redis: ${redactUrl(config.redis.url)} (prefix ${config.redis.prefix})`,
    `receiver: ${receiver.host}:${receiver.port}${receiver.path}, token set: ${receiver.token ? 'yes' : 'no'}` +
      (receiver.allowIps.length > 0 ? `, allowIps ${receiver.allowIps.join(' ')}` : ''),
    `retention: delivered deliveries ${config.retention.deliveredDays} days (at most ` +
      `${config.retention.deliveredMax.toLocaleString('en')} per destination), ingest jobs ` +
      `${config.retention.ingestHours} h (at most ${config.retention.ingestMaxJobs.toLocaleString('en')}); dead letters kept`,
    `destinations: ${config.destinations.length === 0 ? 'none' : config.destinations.length}`,
  ];
  for (const destination of config.destinations) {
    lines.push(
      `  - ${destination.name} (${destination.type}) → ${target(destination)}; ` +
        `filter: ${describeFilter(destination.filter)}; ${describeDelivery(destination)}`,
    );
  }
  const advice = warnings(config);
  if (advice.length > 0) lines.push(`warnings: ${advice.length}`, ...advice.map((line) => `  ! ${line}`));
  return lines;
}

/** What a valid config may still get wrong, each as something a person can act on. */
function warnings(config: ForwarderConfig): string[] {
  const out: string[] = [];
  if (!config.receiver.token && config.receiver.allowIps.length === 0) {
    out.push(
      'receiver: no token and no allowIps: anyone who finds the URL can send call records; set receiver.token (README: Authentication)',
    );
  }
  if (config.destinations.length === 0) {
    out.push('no destinations: notifications are stored and acknowledged, but go nowhere');
  }
  for (const destination of config.destinations) {
    const url =
      destination.type === 'http'
        ? destination.url
        : destination.type === 'slack'
          ? destination.webhookUrl
          : '';
    if (url && overPlainHttp(url)) {
      out.push(
        `${destination.name}: sends call records, phone numbers included, over plain http:// across the network; use https://`,
      );
    }
    if (destination.retry.attempts === 1) {
      out.push(
        `${destination.name}: retry.attempts is 1: a delivery that fails once is dead at once (npm run replay sends it again)`,
      );
    }
  }
  out.push(...unbracedVariables(config));
  return out;
}

/**
 * `Bearer $CRM_API_KEY`: meant as a variable, sent as text. The value is not quoted: the "$" may
 * belong to a secret.
 */
function unbracedVariables(config: ForwarderConfig): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === 'string') {
      if (/\$[A-Za-z_][A-Za-z0-9_]*/.test(value))
        out.push(
          `${formatPath(path)}: a "$" followed by a name is sent as it is: an environment variable is written \${NAME} (ignore this if the "$" belongs to the value)`,
        );
    } else if (value !== null && typeof value === 'object') {
      // A list's entries are its indexes: `destinations[3]`.
      for (const [key, item] of Object.entries(value))
        walk(item, [...path, Array.isArray(value) ? Number(key) : key]);
    }
  };
  walk(config, []);
  return out;
}

/**
 * `http://` to a host with a domain name or a public address: a name without a dot (a compose
 * service, `crm:8080`), loopback and private addresses stay on a network of one's own.
 */
function overPlainHttp(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  if (protocol !== 'http:') return false;
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || (!host.includes('.') && !host.includes(':'))) return false;
  return !/^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host);
}

/** Keys whose names look like a secret's but whose values are not. */
const NOT_SECRET = new Set(['oauth2', 'tokenUrl', 'tokenPrefix', 'clientAuth']);

/**
 * Values in the file that must never be printed, even inside an error message (valibot's default
 * messages quote the value they received): tokens, passwords, secrets, headers, URL passwords.
 */
function secretsIn(path: string): string[] {
  let tree: unknown;
  try {
    const raw: unknown = parse(readFileSync(path, 'utf8'));
    tree = [raw, interpolateTree(raw, process.env).tree];
  } catch {
    return [];
  }
  const secrets: string[] = [];
  const walk = (value: unknown, secret: boolean): void => {
    if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      if (secret && !text.includes('${')) secrets.push(text);
      try {
        const url = new URL(text);
        if (url.password) secrets.push(url.password, decodeURIComponent(url.password));
        for (const [key, item] of url.searchParams) if (!HARMLESS_QUERY.has(key) && item) secrets.push(item);
        if (url.hostname === 'hooks.slack.com') secrets.push(url.pathname);
      } catch {}
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, secret);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        // A Slack webhook's path is its secret, whatever the host.
        if (key === 'webhookUrl' && typeof item === 'string' && URL.canParse(item))
          secrets.push(new URL(item).pathname);
        walk(
          item,
          secret || (/token|secret|password|passwd|key|auth|headers/i.test(key) && !NOT_SECRET.has(key)),
        );
      }
    }
  };
  walk(tree, false);
  // Blanking a value of a few characters (`?x=1`) would blank it everywhere in the output, and
  // such a value guards nothing.
  return [...new Set(secrets)].filter((secret) => secret.length >= 4).sort((a, b) => b.length - a.length);
}

function redact(text: string, secrets: string[]): string {
  return secrets.reduce((out, secret) => out.replaceAll(secret, '***'), text);
}

function main(): void {
  let config: ForwarderConfig;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The problems, not the file's name: a short secret may be part of a path (`/srv/test/…`).
    const secrets = secretsIn(file);
    const redacted = new ConfigError(
      error.file,
      error.problems.map((problem) => redact(problem, secrets)),
    );
    process.stderr.write(`cdr-forwarder: ${redacted.message}\n`);
    process.exit(2);
  }
  process.stdout.write(`${file}: valid\n${redact(describeConfig(config).join('\n'), secretsIn(file))}\n`);
}

main();
