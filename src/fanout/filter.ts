import type { FilterConfig } from '../config/index.ts';
import type { CallEvent } from '../telecmi/index.ts';

/** The event fields a filter matches as text, each named by the filter key of the same name. */
const MATCHED_FIELDS = ['kind', 'status', 'direction', 'leg', 'team', 'user', 'provider', 'appId'] as const;

/**
 * A key added to the filter's schema but matched nowhere here would be accepted and ignored, so the
 * destination would get every event: every key must be one of the above or handled below.
 */
type HandledKey = (typeof MATCHED_FIELDS)[number] | 'virtualNumber' | 'minAnsweredSec' | 'not';
const everyFilterKeyHandled: [Exclude<keyof FilterConfig, HandledKey>] extends [never] ? true : false = true;
void everyFilterKeyHandled;

/**
 * Whether a destination wants an event: every key present in the filter must match; a list means
 * "any of"; text matches ignore case; an event that matches every key of `not` is left out. An
 * empty filter takes everything.
 */
export function compileFilter(filter: FilterConfig): (event: CallEvent) => boolean {
  const { not, ...keys } = filter;
  const matches = compileMatch(keys);
  if (not === undefined) return matches;
  const excluded = compileMatch(not);
  return (event) => matches(event) && !excluded(event);
}

/** Whether an event matches every key given (no key: every event does). */
function compileMatch(filter: Omit<FilterConfig, 'not'>): (event: CallEvent) => boolean {
  const checks: ((event: CallEvent) => boolean)[] = [];
  for (const field of MATCHED_FIELDS) {
    const wanted = filter[field];
    if (wanted === undefined) continue;
    const accepted = new Set((Array.isArray(wanted) ? wanted : [wanted]).map((value) => value.toLowerCase()));
    checks.push((event) => {
      const value = event[field];
      return value !== null && accepted.has(value.toLowerCase());
    });
  }
  if (filter.virtualNumber !== undefined) {
    // Digits only on both sides: TeleCMI sends `440000000000`, people write `+44 0000 000000`.
    const accepted = new Set([filter.virtualNumber].flat().map(digitsOf));
    checks.push((event) => event.virtualNumber !== null && accepted.has(digitsOf(event.virtualNumber)));
  }
  const { minAnsweredSec } = filter;
  if (minAnsweredSec !== undefined) checks.push((event) => (event.answeredSec ?? 0) >= minAnsweredSec);
  return (event) => checks.every((check) => check(event));
}

function digitsOf(text: string): string {
  return text.replace(/\D/g, '');
}
