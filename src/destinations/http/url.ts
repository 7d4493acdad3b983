import type { CallEvent } from '../../telecmi/index.ts';
import { asText, compileText, hasPlaceholder } from '../template.ts';
import { DeliveryError } from '../types.ts';

/** Scheme, credentials, host and port: the part of a URL that placeholders may not change. */
const ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** Whether `url` has a `{{field}}` in its scheme, host or port, which only literal text may fill. */
export function hasPlaceholderInOrigin(url: string): boolean {
  return hasPlaceholder(ORIGIN.exec(url)?.[0] ?? url);
}

/**
 * The request path (with query) of each event, for a `url` with `{{field}}` placeholders in its
 * path or query (`https://crm.example/api/calls/{{id}}`), so that an endpoint can upsert by a
 * field of the event. Each value is percent-encoded, so it stays within its path segment or query
 * value. A placeholder whose field the event does not have (or has empty) fails the delivery for
 * good: a retry would build the same URL, and a request to `/api/calls/` would reach something else.
 * The origin is fixed by the config (the config refuses placeholders there), so the data of a call
 * never chooses which host is called. Returns `undefined` for a URL without placeholders.
 */
export function compileRequestPath(url: string): ((event: CallEvent) => string) | undefined {
  const origin = ORIGIN.exec(url)?.[0];
  if (origin === undefined || !hasPlaceholder(url)) return undefined;
  const base = new URL(url).origin;
  const render = compileText(url.slice(origin.length).replace(/#.*$/s, ''), encodeField);
  return (event) => {
    // Parsed again so that the literal parts are normalised as in a URL without placeholders.
    const target = new URL(render(event) || '/', base);
    return `${target.pathname}${target.search}`;
  };
}

function encodeField(value: unknown, placeholder: string): string {
  const text = asText(value);
  if (text === '') {
    throw new DeliveryError(`url: {{${placeholder}}} has no value in this event`, { retryable: false });
  }
  // `.` and `..` are path steps however they are encoded (`%2e%2e` too, for URL parsers and most
  // servers): `/calls/{{callId}}/notes` would become `/notes`.
  if (text === '.' || text === '..') {
    throw new DeliveryError(
      `url: {{${placeholder}}} is "${text}", which would step out of its place in the path`,
      { retryable: false },
    );
  }
  return encodeURIComponent(text);
}
