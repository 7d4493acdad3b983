import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import * as v from 'valibot';

/**
 * Building blocks for the config schema. Values that come from `${ENV}` are strings, so numbers and
 * booleans accept their string forms too; every block says in its message what it expected.
 */

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return v.pipe(
    v.union(
      [v.number(), v.pipe(v.string(), v.trim(), v.regex(/^-?\d+$/), v.transform(Number))],
      `expected a whole number from ${min} to ${max}`,
    ),
    v.integer(`expected a whole number from ${min} to ${max}`),
    v.minValue(min, `expected a whole number from ${min} to ${max}`),
    v.maxValue(max, `expected a whole number from ${min} to ${max}`),
  );
}

export const boolean = v.union(
  [
    v.boolean(),
    v.pipe(
      v.picklist(['true', 'false']),
      v.transform((text) => text === 'true'),
    ),
  ],
  'expected true or false',
);

export const nonEmptyText = v.pipe(v.string('expected a string'), v.nonEmpty('expected a non-empty string'));

export function urlWithScheme(schemes: readonly string[]) {
  const expected = `expected a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`;
  return v.pipe(
    v.string(expected),
    v.url(expected),
    // A pipe runs every check even after one failed: this one must not throw on what url() refused
    // (`127.0.0.1:3901/calls`). The two say the same, and the config error says it once.
    v.check((text) => URL.canParse(text) && schemes.includes(new URL(text).protocol.slice(0, -1)), expected),
  );
}

export const proxyUrl = v.pipe(
  v.union(
    [
      v.pipe(
        v.literal(''),
        v.transform(() => undefined),
      ),
      urlWithScheme(['http', 'https']),
    ],
    'expected a proxy URL starting with http:// or https:// (or empty for none)',
  ),
  v.description(
    'Send through this HTTP proxy (CONNECT tunnel), e.g. http://user:password@proxy.internal:3128 or ${HTTPS_PROXY:-}. Empty: straight.',
  ),
);

/** A destination's time limit, in ms; its default depends on the type. */
export function timeoutMs(defaultMs: number) {
  return v.pipe(
    v.optional(integer(100, 300_000), defaultMs),
    v.description('Per attempt (postgres: per statement).'),
  );
}

/**
 * The path of a PEM file (a certificate or a key), read at start-up: a missing or unreadable file
 * is a config error then, not a TLS failure at the first delivery.
 */
export const pemFile = v.pipe(
  v.string('expected the path of a PEM file'),
  v.nonEmpty('expected the path of a PEM file'),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    let text: string;
    try {
      text = readFileSync(dataset.value, 'utf8');
    } catch (error) {
      addIssue({
        message: `cannot read ${dataset.value} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      });
      return;
    }
    if (!text.includes('-----BEGIN '))
      addIssue({ message: `${dataset.value} is not a PEM file (no -----BEGIN line)` });
  }),
);

/** An address (`10.0.0.7`) or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
export const cidr = v.pipe(
  v.string(),
  v.check((text) => parseCidr(text) !== null, 'expected an IP address or CIDR block such as 10.0.0.0/8'),
);

export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || prefixText === '') return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Names end up in queue names, metric labels and CLI flags (`--only crm`): keep them simple. */
export const name = v.pipe(
  v.string('expected a name'),
  v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'expected letters, digits, "-" or "_" (at most 63), such as "crm"'),
);

/** 169.254.0.0/16 and fe80::/10 (an IPv4-mapped IPv6 address is checked as the IPv4 it maps). */
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');

/** Where cloud credentials live by name (a trailing dot is the same name). */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata']);

/** Whether an IP address is link-local, in whatever form (`::ffff:a9fe:a9fe` is 169.254.169.254). */
export function isLinkLocalAddress(address: string): boolean {
  const version = isIP(address);
  return version !== 0 && LINK_LOCAL.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether a URL's host is a link-local address or a metadata host name. The URL parser has already
 * turned the other spellings of an address (`0xa9fea9fe`, `[::ffff:169.254.169.254]`) into one. A
 * name that resolves to such an address is refused when it is looked up, at the first connection.
 */
export function isLinkLocalUrl(text: string): boolean {
  let host: string;
  try {
    host = new URL(text).hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
  } catch {
    return false;
  }
  return METADATA_HOSTS.has(host) || isLinkLocalAddress(host);
}

/**
 * A secret from an environment variable often ends in the newline of the file it was read from
 * (`TOKEN=$(cat token.txt)`): it would never match what a sender presents.
 */
export const noLineBreak = v.check(
  (text: string) => !/[\r\n]/.test(text),
  'holds a line break (an environment variable with its trailing newline?)',
);
