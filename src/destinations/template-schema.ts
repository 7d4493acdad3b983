import * as v from 'valibot';
import { placeholderProblems } from './template.ts';

/** Every `{{field}}` in the value names a field of the call event. */
export function knownPlaceholders<T>() {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const message of placeholderProblems(dataset.value)) addIssue({ message });
  });
}

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
  knownPlaceholders(),
  v.description(
    'Any YAML value in which strings may name call-event fields as {{field}}; replaces the default body.',
  ),
);
