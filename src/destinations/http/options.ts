import * as v from 'valibot';
import {
  integer,
  noLineBreak,
  nonEmptyText,
  pemFile,
  proxyUrl,
  timeoutMs,
  urlWithScheme,
} from '../../config/fields.ts';
import { knownPlaceholders, Template } from '../template-schema.ts';
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

export const OAuth2Options = v.strictObject({
  tokenUrl: v.pipe(
    urlWithScheme(['http', 'https']),
    v.description('The token endpoint, e.g. https://accounts.zoho.in/oauth/v2/token.'),
  ),
  clientId: v.pipe(nonEmptyText, v.description('The OAuth client id.')),
  clientSecret: v.pipe(nonEmptyText, v.description('The OAuth client secret; use ${VAR}.')),
  refreshToken: v.pipe(
    v.optional(nonEmptyText),
    v.description(
      'With it, the refresh token grant (Zoho CRM self client); without it, client credentials. Use ${VAR}.',
    ),
  ),
  scope: v.pipe(v.optional(nonEmptyText), v.description('Scope to ask for (space-separated).')),
  clientAuth: v.pipe(
    v.optional(v.picklist(['body', 'basic'], 'expected "body" or "basic"'), 'body'),
    v.description(
      'How the client authenticates to tokenUrl: body (client_id and client_secret form fields) or basic (HTTP basic auth).',
    ),
  ),
  tokenPrefix: v.pipe(
    v.optional(nonEmptyText, 'Bearer'),
    v.description('The word before the token in Authorization (Zoho CRM: Zoho-oauthtoken).'),
  ),
});
export type OAuth2Options = v.InferOutput<typeof OAuth2Options>;

export const TlsOptions = v.pipe(
  v.strictObject({
    ca: v.pipe(
      v.optional(pemFile),
      v.description('A private CA to trust besides the usual ones (a CRM on a company network).'),
    ),
    cert: v.pipe(
      v.optional(pemFile),
      v.description('A client certificate, for a destination that asks for one (mutual TLS); with key.'),
    ),
    key: v.pipe(v.optional(pemFile), v.description("The client certificate's private key.")),
  }),
  v.forward(
    v.check((tls) => (tls.cert === undefined) === (tls.key === undefined), 'cert and key go together'),
    ['key'],
  ),
);
export type TlsOptions = v.InferOutput<typeof TlsOptions>;

/** 4xx statuses that mean "not now": retried, never taken for delivered. */
const RETRY_STATUSES = [408, 425, 429];

export const HttpOptions = v.pipe(
  v.object({
    type: v.literal('http'),
    url: v.pipe(
      v.string(),
      // Here, not last: the JSON Schema of the input ends before the pipe's second schema.
      v.description(
        'http:// or https:// URL the event is sent to; {{field}} in its path or query is filled from each event, percent-encoded.',
      ),
      v.check(
        (text) => !hasPlaceholderInOrigin(text),
        'placeholders ({{field}}) may stand in the path or query only, not in the scheme, host or port',
      ),
      knownPlaceholders(),
      urlWithScheme(['http', 'https']),
    ),
    method: v.pipe(
      v.optional(v.picklist(['POST', 'PUT', 'PATCH'], 'expected POST, PUT or PATCH'), 'POST'),
      v.description('POST, PUT or PATCH.'),
    ),
    // Values from `${ENV}` are never logged.
    headers: v.pipe(
      v.optional(
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
            knownPlaceholders(),
          ),
        ),
        {},
      ),
      v.description(
        'Extra request headers, e.g. {Authorization: "Bearer ${CRM_TOKEN}"}; values may name event fields, e.g. {Idempotency-Key: "{{id}}"}.',
      ),
    ),
    timeoutMs: timeoutMs(10_000),
    proxy: v.optional(proxyUrl),
    tls: v.pipe(
      v.optional(TlsOptions),
      v.description('TLS to the destination and its token endpoint: paths of PEM files, read at start-up.'),
    ),
    signingSecret: v.pipe(
      v.optional(SigningSecret),
      v.description(
        'A Standard Webhooks secret (whsec_...): adds a webhook-signature header. Empty: no signature.',
      ),
    ),
    // A second signature in the same header.
    previousSigningSecret: v.pipe(
      v.optional(SigningSecret),
      v.description(
        'The secret being rotated out (whsec_...): requests carry its signature too, so the endpoint can switch at its own pace. Remove it once it has.',
      ),
    ),
    // Fetched with the client credentials grant, or the refresh token grant when `refreshToken` is
    // set, and cached until shortly before it expires.
    oauth2: v.pipe(
      v.optional(OAuth2Options),
      v.description(
        'An OAuth 2 access token for every request (Authorization: <tokenPrefix> <token>), fetched from tokenUrl and renewed before it expires.',
      ),
    ),
    // A `4xx` not in the list fails the delivery for good.
    deliveredStatuses: v.pipe(
      v.optional(
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
      v.description(
        'Statuses besides 2xx that count as delivered, e.g. [409] for an endpoint that answers a resend it already has so.',
      ),
    ),
    template: v.optional(Template),
  }),
  v.description('type: http: a CRM or any webhook.'),
);
