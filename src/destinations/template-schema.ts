import * as v from 'valibot';

/**
 * `{{raw.some_field}}` reaches into the fields as received. A string that is exactly one placeholder
 * keeps the field's type (a number stays a number); placeholders inside longer text are replaced by
 * the field's text; a missing field gives null / empty text.
 */
export const Template = v.pipe(
  v.unknown(),
  v.check(
    (value) => value !== null && value !== undefined,
    'expected a template (a mapping, list or string)',
  ),
  v.description(
    'Any YAML value in which strings may name call-event fields as {{field}}; replaces the default body.',
  ),
);
