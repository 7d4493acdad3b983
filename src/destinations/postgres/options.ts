import * as v from 'valibot';
import { integer, urlWithScheme } from '../../config/fields.ts';

/** `type: postgres`: the warehouse. One row per event, `ON CONFLICT (id) DO NOTHING`. */
export const PostgresOptions = v.object({
  type: v.literal('postgres'),
  url: urlWithScheme(['postgres', 'postgresql']),
  table: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/,
        'expected a lower-case table name such as telecmi_call_events or schema.table (letters a-z, digits and _)',
      ),
    ),
    'telecmi_call_events',
  ),
  batch: v.optional(
    v.strictObject({
      size: v.optional(integer(1, 10_000), 500),
      waitMs: v.optional(integer(0, 60_000), 200),
    }),
    {},
  ),
  /** Per statement. */
  timeoutMs: v.optional(integer(100, 300_000), 30_000),
});
