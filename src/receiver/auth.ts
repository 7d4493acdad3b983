import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';

/**
 * TeleCMI does not sign its requests, so the webhook URL carries a shared secret. It may come as
 * `?token=`, as the last path segment or as `Authorization: Bearer`, because the dashboard only
 * lets customers paste a URL while proxies and tests prefer a header.
 */
export function presentedToken(c: Context): string | undefined {
  const fromPath = c.req.param('token');
  if (fromPath) return fromPath;
  const fromQuery = c.req.query('token');
  if (fromQuery) return fromQuery;
  const header = c.req.header('authorization');
  if (header && /^bearer\s/i.test(header)) return header.slice(7).trim();
  return undefined;
}

/** Compares digests, so neither the length nor the content of the secret leaks through timing. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented ?? ''), digest(expected)) && presented !== undefined;
}

/**
 * The client address for `allowIps`: the socket's peer, or with `trustProxy` the address the
 * nearest trusted proxy saw. X-Forwarded-For is read from the right, since every proxy appends and
 * only the entries our own proxies wrote can be trusted.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trustedProxies: number,
): string {
  if (trustedProxies > 0 && forwardedFor) {
    const hops = forwardedFor
      .split(',')
      .map((hop) => hop.trim())
      .filter(Boolean);
    const index = Math.max(0, hops.length - trustedProxies);
    const address = hops[index];
    if (address) return address;
  }
  return peer ?? '';
}
