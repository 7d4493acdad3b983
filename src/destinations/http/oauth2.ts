import { type Dispatcher, request } from 'undici';
import { DeliveryError } from '../types.ts';
import {
  bodyExcerpt,
  type Connection,
  dispatcherFor,
  proxySecrets,
  redact,
  requestError,
} from './endpoint.ts';
import type { OAuth2Options } from './options.ts';

/** A token is renewed this long before it expires (at most a tenth of its lifetime)... */
const RENEW_BEFORE_MS = 60_000;
/** ...and assumed to live this long when the token endpoint does not say (`expires_in`). */
const DEFAULT_LIFETIME_MS = 3_600_000;
/**
 * After a failed token request, deliveries fail with its error for this long without asking
 * again, so that a wrong secret does not send every delivery in flight to the token endpoint.
 */
const FAILURE_HOLD_MS = 5_000;

export interface Authorization {
  /** The `Authorization` header's value. */
  header: string;
  /** The access token alone, to blank out of error messages and to report as refused. */
  token: string;
}

/**
 * The access token of one destination, per process: fetched on first use, shared by the deliveries
 * in flight (one token request at a time), renewed shortly before it expires or once the endpoint
 * refuses it. A failed token request is a retryable delivery failure that holds the destination
 * for {@link FAILURE_HOLD_MS}, as a Retry-After would: one attempt is spent per hold, not one per
 * delivery, while the credentials or the token endpoint are fixed.
 */
export class OAuth2Token {
  readonly #options: OAuth2Options;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  /** A refresh token the endpoint sent back replaces the configured one (rotation). */
  #refreshToken: string | undefined;
  #current: { token: string; renewAt: number } | undefined;
  #pending: Promise<Authorization> | undefined;
  #failure: { message: string; until: number } | undefined;
  /** How errors name the token request: the endpoint without its query (it may carry a key). */
  readonly #where: string;
  /** The destination's proxy or TLS files, when it has them. */
  readonly #dispatcher: Dispatcher;
  /** The proxy's password, blanked out of a failed request's error. */
  readonly #proxySecrets: string[];

  constructor(
    options: OAuth2Options,
    {
      timeoutMs,
      connection = {},
      now = Date.now,
    }: { timeoutMs: number; connection?: Connection; now?: () => number },
  ) {
    this.#options = options;
    this.#dispatcher = dispatcherFor(connection, timeoutMs);
    this.#proxySecrets = proxySecrets(connection.proxy);
    const { origin, pathname } = new URL(options.tokenUrl);
    this.#where = `OAuth token request to ${origin}${pathname}`;
    this.#timeoutMs = timeoutMs;
    this.#now = now;
    this.#refreshToken = options.refreshToken;
  }

  /** The secrets of the token request, to blank out of any error message. */
  get secrets(): string[] {
    return [this.#options.clientSecret, this.#refreshToken ?? ''].filter((secret) => secret !== '');
  }

  async authorization(): Promise<Authorization> {
    const now = this.#now();
    if (this.#current && now < this.#current.renewAt) return this.#headerFor(this.#current.token);
    // A failure another delivery's token request met: this one waits for the hold, unspent.
    if (this.#failure && now < this.#failure.until) {
      throw new DeliveryError(this.#failure.message, {
        retryable: true,
        retryAfterMs: this.#failure.until - now,
        held: true,
      });
    }
    if (this.#pending) {
      // Joined another delivery's token request: should it fail, that delivery spends the attempt.
      return this.#pending.catch((error: unknown) => {
        throw error instanceof DeliveryError
          ? new DeliveryError(error.message, {
              retryable: true,
              retryAfterMs: error.retryAfterMs,
              held: true,
            })
          : error;
      });
    }
    this.#pending = this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  /** The endpoint answered 401 with `token`: the next delivery fetches a new one. */
  refused(token: string): void {
    if (this.#current?.token === token) this.#current = undefined;
  }

  #headerFor(token: string): Authorization {
    return { header: `${this.#options.tokenPrefix} ${token}`, token };
  }

  async #fetch(): Promise<Authorization> {
    const options = this.#options;
    const form = new URLSearchParams();
    if (this.#refreshToken) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', this.#refreshToken);
    } else form.set('grant_type', 'client_credentials');
    if (options.scope) form.set('scope', options.scope);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (options.clientAuth === 'basic') {
      // RFC 6749 2.3.1: each part form-encoded before the basic-auth encoding.
      const user = `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
    } else {
      form.set('client_id', options.clientId);
      form.set('client_secret', options.clientSecret);
    }
    const where = this.#where;
    try {
      const startedAt = this.#now();
      const answer = await this.#post(headers, form.toString());
      const token = answer.access_token;
      if (typeof token !== 'string' || token === '') {
        throw new DeliveryError(
          `${where} answered without an access_token: ${bodyExcerpt(redact(JSON.stringify(answer), this.secrets))}`,
          { retryable: true },
        );
      }
      if (typeof answer.refresh_token === 'string' && answer.refresh_token !== '') {
        this.#refreshToken = answer.refresh_token;
      }
      const seconds = Number(answer.expires_in);
      const lifetime = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_LIFETIME_MS;
      this.#current = { token, renewAt: startedAt + lifetime - Math.min(RENEW_BEFORE_MS, lifetime / 10) };
      this.#failure = undefined;
      return this.#headerFor(token);
    } catch (error) {
      const message =
        error instanceof DeliveryError && error.message.startsWith(where)
          ? error.message
          : `${where} failed: ${(error as Error).message}`;
      this.#failure = { message, until: this.#now() + FAILURE_HOLD_MS };
      // Held like a Retry-After: the destination's other deliveries (in every process) wait for the
      // hold without spending an attempt, instead of each failing on the same error.
      throw new DeliveryError(message, { retryable: true, retryAfterMs: FAILURE_HOLD_MS, cause: error });
    }
  }

  /** POSTs the form; the answer's JSON object on 2xx, else a DeliveryError with the status and body. */
  async #post(headers: Record<string, string>, body: string): Promise<Record<string, unknown>> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await request(this.#options.tokenUrl, {
        method: 'POST',
        headers,
        body,
        signal,
        dispatcher: this.#dispatcher,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw requestError(error, this.#timeoutMs, signal.aborted, this.#proxySecrets);
    }
    if (status < 200 || status >= 300) {
      throw new DeliveryError(`HTTP ${status}: ${bodyExcerpt(redact(text, this.secrets))}`, {
        retryable: true,
        status,
      });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        return parsed as Record<string, unknown>;
      }
    } catch {}
    throw new DeliveryError(`HTTP ${status}, not a JSON object: ${bodyExcerpt(redact(text, this.secrets))}`, {
      retryable: true,
    });
  }
}
