import { Webhook } from 'standardwebhooks';
import type { DestinationConfigOf } from '../../config/index.ts';
import type { CallEvent } from '../../telecmi/index.ts';
import { asText, type CompiledTemplate, compileTemplate, compileText, hasPlaceholder } from '../template.ts';
import {
  type DeliveryContext,
  DeliveryError,
  type DeliveryReceipt,
  type Destination,
  type DestinationType,
} from '../types.ts';
import { JsonEndpoint, USER_AGENT } from './endpoint.ts';
import { type Authorization, OAuth2Token } from './oauth2.ts';
import { compileRequestPath } from './url.ts';

type HttpConfig = DestinationConfigOf<'http'>;

/**
 * `type: http`: POSTs (or PUTs, PATCHes) each event as JSON, the canonical event or the template's
 * rendering, with Standard Webhooks headers: `webhook-id` is the event id (the same on every retry,
 * so the receiver can de-duplicate), and with `signingSecret` a `webhook-signature`.
 */
class HttpDestination implements Destination {
  readonly #config: HttpConfig;
  readonly #endpoint: JsonEndpoint;
  readonly #render: CompiledTemplate | undefined;
  /** Set when the URL names fields of the event (`/calls/{{id}}`). */
  readonly #pathOf: ((event: CallEvent) => string) | undefined;
  /** One per signing secret, the current one first: each adds its signature to the header. */
  readonly #signers: Webhook[];
  readonly #headers: Record<string, string>;
  /** Headers whose values name fields of the event (`Idempotency-Key: "{{id}}"`), rendered per event. */
  readonly #eventHeaders: [name: string, render: (event: CallEvent) => string][];
  readonly #secrets: string[];
  readonly #oauth2: OAuth2Token | undefined;

  constructor(config: HttpConfig) {
    this.#config = config;
    const connection = { proxy: config.proxy, tls: config.tls, allowLinkLocal: config.allowLinkLocal };
    this.#endpoint = new JsonEndpoint(config.url, config.timeoutMs, connection);
    this.#render = config.template === undefined ? undefined : compileTemplate(config.template);
    this.#pathOf = compileRequestPath(config.url);
    const signingSecrets = [config.signingSecret, config.previousSigningSecret].filter(
      (secret) => secret !== undefined,
    );
    this.#signers = signingSecrets.map((secret) => new Webhook(secret));
    this.#headers = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
    this.#eventHeaders = [];
    for (const [name, value] of Object.entries(config.headers)) {
      if (hasPlaceholder(value))
        this.#eventHeaders.push([name.toLowerCase(), compileText(value, headerText)]);
      else this.#headers[name.toLowerCase()] = value;
    }
    this.#oauth2 =
      config.oauth2 && new OAuth2Token(config.oauth2, { timeoutMs: config.timeoutMs, connection });
    // The OAuth secrets are read per request: a refresh token the endpoint sends back replaces one.
    this.#secrets = [
      ...Object.values(config.headers)
        .filter((value) => !hasPlaceholder(value))
        .flatMap(credentialsIn),
      ...signingSecrets,
    ];
  }

  async deliver(event: CallEvent, context: DeliveryContext): Promise<DeliveryReceipt> {
    const path = this.#pathOf?.(event);
    // Before the timestamp and signature, so that waiting for a token does not age them.
    const authorization = await this.#oauth2?.authorization();
    const body = JSON.stringify(this.#render ? this.#render(event) : event);
    const now = new Date();
    const headers: Record<string, string> = {
      ...this.#headers,
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    };
    // Several signatures are space-separated; a verifier accepts the request if any one matches.
    if (this.#signers.length > 0) {
      headers['webhook-signature'] = this.#signers
        .map((signer) => signer.sign(event.id, now, body))
        .join(' ');
    }
    for (const [name, render] of this.#eventHeaders) {
      // Empty (`{{requestId}}` of a call without one): left out, not sent empty.
      const value = render(event).trim();
      if (value !== '') headers[name] = value;
    }
    if (authorization) headers.authorization = authorization.header;
    const started = performance.now();
    const status = await this.#endpoint
      .send({
        method: this.#config.method,
        headers,
        body,
        ...(path === undefined ? {} : { path }),
        deliveredStatuses: this.#config.deliveredStatuses,
        secrets: this.#oauth2
          ? [...this.#secrets, ...this.#oauth2.secrets, authorization?.token ?? '']
          : this.#secrets,
      })
      .catch((error: unknown) => {
        throw authorization ? this.#tokenRefused(error, authorization) : error;
      });
    context.logger.debug(
      { eventId: event.id, httpStatus: status, ms: Math.round(performance.now() - started) },
      'http delivery accepted',
    );
    return { status };
  }

  /**
   * A 401 to a request with an OAuth token: the token was revoked or expired early. It is dropped,
   * and the delivery is retried (with a new one) instead of going dead as another 4xx would.
   */
  #tokenRefused(error: unknown, authorization: Authorization): unknown {
    if (!(error instanceof DeliveryError) || error.status !== 401) return error;
    this.#oauth2?.refused(authorization.token);
    return new DeliveryError(`${error.message} (the OAuth token was refused; a retry fetches a new one)`, {
      retryable: true,
      status: 401,
      cause: error,
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.#endpoint.close(), this.#oauth2?.close()]);
  }
}

/**
 * What of a configured header value must never be quoted back: the value, each word of it long
 * enough to be a key (`Bearer <key>`: an endpoint may echo the key alone), and a basic-auth
 * password as the endpoint decodes it.
 */
function credentialsIn(value: string): string[] {
  const found = [value, ...value.split(/\s+/).filter((word) => word.length >= 8)];
  const basic = /^Basic\s+(\S+)$/i.exec(value.trim())?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    if (decoded.includes(':') && password.length >= 4) found.push(password);
  }
  return found;
}

/**
 * A field's text as a header value. Control characters (a CR LF would end the header) become
 * spaces. A header carries bytes, not text: any other character beyond ASCII is percent-encoded as
 * UTF-8 (`José` is `Jos%C3%A9`), and so is `%`, so that `decodeURIComponent` gives the field back.
 */
function headerText(value: unknown): string {
  return (
    asText(value)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: exactly what must not reach a header
      .replace(/[\u0000-\u001f\u007f]/g, ' ')
      .replace(/[^\u0020-\u007e]|%/gu, (character) => encodeURIComponent(character))
  );
}

export const httpDestination: DestinationType<HttpConfig> = {
  // With OAuth, a delivery may first wait for a token request (itself bounded by timeoutMs).
  timeoutMs: (config) => (config.oauth2 ? 2 * config.timeoutMs : config.timeoutMs),
  defaultConcurrency: () => 10,
  create: (config) => new HttpDestination(config),
};
