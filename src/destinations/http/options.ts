import * as v from 'valibot';
import { integer, noLineBreak, nonEmptyText, pemFile, proxyUrl, urlWithScheme } from '../../config/fields.ts';
import { Template } from '../template-schema.ts';
import { hasPlaceholderInOrigin } from './url.ts';

/** A Standard Webhooks secret; empty (an unset `${SECRET:-}`) means none. */
const SigningSecret = v.pipe(
  v.string(),
  noLineBreak,
  v.check(
    // A trailing newline is the check above's to name.
    (text) => text === '' || /^whsec_[A-Za-z0-9+/=]{8,}$/.test(text.replace(/[\r\n]+$/, '')),
    'expected a Standard Webhooks secret: whsec_ then base64 (or empty for none)',
  ),
  v.transform((text) => (text === '' ? undefined : text)),
);

/** What no header value can carry: control characters other than tab. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: exactly what a header cannot carry
const HEADER_CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * An OAuth 2 access token for every request (`Authorization: <tokenPrefix> <token>`), fetched from
 * `tokenUrl` with the client credentials grant, or the refresh token grant when `refreshToken` is
 * set (Zoho CRM's self client), and cached until shortly before it expires.
 */
export const OAuth2Options = v.strictObject({
  tokenUrl: urlWithScheme(['http', 'https']),
  clientId: nonEmptyText,
  clientSecret: nonEmptyText,
  /** With it, the refresh token grant; without it, client credentials. */
  refreshToken: v.optional(nonEmptyText),
  scope: v.optional(nonEmptyText),
  /** How the client authenticates to `tokenUrl`: form fields in the body, or HTTP basic auth. */
  clientAuth: v.optional(v.picklist(['body', 'basic'], 'expected "body" or "basic"'), 'body'),
  /** The word before the token in `Authorization` (Zoho CRM: `Zoho-oauthtoken`). */
  tokenPrefix: v.optional(nonEmptyText, 'Bearer'),
});
export type OAuth2Options = v.InferOutput<typeof OAuth2Options>;

/**
 * TLS to the destination (and its token endpoint): a private CA to trust besides the usual ones,
 * and a client certificate with its key for mutual TLS. Paths of PEM files, read at start-up.
 */
export const TlsOptions = v.pipe(
  v.strictObject({
    ca: v.optional(pemFile),
    cert: v.optional(pemFile),
    key: v.optional(pemFile),
  }),
  v.forward(
    v.check((tls) => (tls.cert === undefined) === (tls.key === undefined), 'cert and key go together'),
    ['key'],
  ),
);
export type TlsOptions = v.InferOutput<typeof TlsOptions>;

/** 4xx statuses that mean "not now": retried, never taken for delivered. */
const RETRY_STATUSES = [408, 425, 429];

/** `type: http`: a CRM or any webhook. */
export const HttpOptions = v.object({
  type: v.literal('http'),
  /**
   * Where events go. `{{field}}` in the path or query is filled from each event, percent-encoded
   * (`https://crm.example/api/calls/{{id}}`, for an endpoint that upserts by id).
   */
  url: v.pipe(
    v.string(),
    v.check(
      (text) => !hasPlaceholderInOrigin(text),
      'placeholders ({{field}}) may stand in the path or query only, not in the scheme, host or port',
    ),
    urlWithScheme(['http', 'https']),
  ),
  method: v.optional(v.picklist(['POST', 'PUT', 'PATCH'], 'expected POST, PUT or PATCH'), 'POST'),
  /**
   * Extra request headers; values may use `${ENV}` (and are then never logged), and `{{field}}`,
   * filled from each event (`Idempotency-Key: "{{id}}"`).
   */
  headers: v.optional(
    v.record(
      v.pipe(
        v.string(),
        v.regex(
          /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
          'expected a header name: letters, digits and -, such as X-Api-Key',
        ),
      ),
      v.pipe(
        v.string('expected a string header value'),
        // A value from a file often ends in a newline (`API_KEY=$(cat key.txt)`).
        v.check(
          (text) => !HEADER_CONTROL_CHARACTER.test(text),
          'a header value cannot hold a line break or another control character (an environment variable with its trailing newline?)',
        ),
        v.check(
          (text) => [...text].every((character) => character.charCodeAt(0) <= 0xff),
          "a header value cannot hold characters beyond Latin-1 (a field's {{placeholder}} is percent-encoded instead)",
        ),
      ),
    ),
    {},
  ),
  timeoutMs: v.optional(integer(100, 300_000), 10_000),
  /** Send through this HTTP proxy (CONNECT); empty: straight. */
  proxy: v.optional(proxyUrl),
  tls: v.optional(TlsOptions),
  /** Standard Webhooks signing secret (`whsec_...`): adds a `webhook-signature` header. */
  signingSecret: v.optional(SigningSecret),
  /**
   * The secret being rotated out: requests are signed with it too (a second signature in the same
   * header), so the endpoint can switch secrets at its own pace. Remove it once it has.
   */
  previousSigningSecret: v.optional(SigningSecret),
  oauth2: v.optional(OAuth2Options),
  /**
   * Statuses besides 2xx that count as delivered: for an endpoint that answers a resend it already
   * has with, say, `409 Conflict`, which would otherwise fail the delivery for good.
   */
  deliveredStatuses: v.optional(
    v.array(
      v.pipe(
        integer(300, 499),
        v.check(
          (status) => !RETRY_STATUSES.includes(status),
          '408, 425 and 429 ask for a retry: the endpoint has not taken the event, so they cannot count as delivered',
        ),
      ),
    ),
    [],
  ),
  /** Maps canonical fields into the body your endpoint expects; without it the body is the whole event. */
  template: v.optional(Template),
});
