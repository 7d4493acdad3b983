import * as v from 'valibot';
import { integer, timeoutMs, urlWithScheme } from '../../config/fields.ts';

/** One row per event, `ON CONFLICT (id) DO NOTHING`. */
export const PostgresOptions = v.pipe(
  v.object({
    type: v.literal('postgres'),
    url: v.pipe(
      urlWithScheme(['postgres', 'postgresql']),
      v.description('postgres://user:password@host:5432/db'),
    ),
    table: v.pipe(
      v.optional(
        v.pipe(
          v.string(),
          v.regex(
            /^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/,
            'expected a lower-case table name such as telecmi_call_events or schema.table (letters a-z, digits and _)',
          ),
        ),
        'telecmi_call_events',
      ),
      v.description('table or schema.table; created when missing.'),
    ),
    batch: v.pipe(
      v.optional(
        v.strictObject({
          size: v.pipe(v.optional(integer(1, 10_000), 500), v.description('Rows per statement.')),
          waitMs: v.pipe(
            v.optional(integer(0, 60_000), 200),
            v.description('The longest a delivery waits for its batch to fill.'),
          ),
        }),
        {},
      ),
      v.description('Rows are written in micro-batches: {size, waitMs}.'),
    ),
    timeoutMs: timeoutMs(30_000),
  }),
  v.description('type: postgres: the warehouse, one row per event.'),
);
