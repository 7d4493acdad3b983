import * as v from 'valibot';
import { integer, urlWithScheme } from '../../config/fields.ts';
import { Template } from '../template-schema.ts';

/** `type: http`: a CRM or any webhook. */
export const HttpOptions = v.object({
  type: v.literal('http'),
  url: urlWithScheme(['http', 'https']),
  method: v.optional(v.picklist(['POST', 'PUT', 'PATCH'], 'expected POST, PUT or PATCH'), 'POST'),
  /** Extra request headers; values may use `${ENV}` (and are then never logged). */
  headers: v.optional(v.record(v.string(), v.string('expected a string header value')), {}),
  timeoutMs: v.optional(integer(100, 300_000), 10_000),
  /** Standard Webhooks signing secret (`whsec_...`): adds a `webhook-signature` header. */
  signingSecret: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (text) => text === '' || /^whsec_[A-Za-z0-9+/=]{8,}$/.test(text),
        'expected a Standard Webhooks secret: whsec_ then base64 (or empty for none)',
      ),
      // Empty (an unset `${SECRET:-}`): no signature.
      v.transform((text) => (text === '' ? undefined : text)),
    ),
  ),
  /** Maps canonical fields into the body your endpoint expects; without it the body is the whole event. */
  template: v.optional(Template),
});
