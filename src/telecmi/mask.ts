/**
 * Hiding phone numbers: in Slack messages (`maskNumbers`) and in log lines (unless
 * `logging.showNumbers`). Kept apart from any one destination so that both use the same rule.
 */

/** `••••0001`: the last 4 digits only. */
export function maskNumber(value: string): string {
  const digits = value.replace(/\D/g, '');
  return `••••${digits.slice(-4)}`;
}

/** A UUID, such as TeleCMI's call ids: its digits are no phone number, even a group of 8. */
const UUID = '[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}';
/** A group of digits, maybe in brackets (`(917)`). */
const GROUP = String.raw`(?:\(\d+\)|\d+)`;
/** Between groups: a space, a hyphen, or as a query string writes a space (`%20`, `+`). */
const SEPARATOR = String.raw`(?:[ -]|%20|\+|(?<=\)))`;

/**
 * A candidate phone number in an error message that quotes a payload, a URL or a database row:
 * digits in groups (`+91 98765 43210`, `+91-98765-43210`, `(020) 7946 0958`), after an optional `+`
 * (or `%2B`, URL-encoded). Not part of a longer word or id (`a1234567b`, `job-1234567`), nor the
 * whole part of a decimal (`12345678.50`). A UUID is matched whole, to be left alone.
 * {@link looksLikeNumber} decides.
 */
const DIGITS_IN_TEXT = new RegExp(
  String.raw`(?<![\w+%]|\w[-.])(?:(${UUID})|(?:\+|%2[bB])?${GROUP}(?:${SEPARATOR}${GROUP})*)(?!\w|\.\d)`,
  'g',
);

/** A date (`2026-12-06`, maybe with the time after it) or an IPv4 address: not a phone number. */
const DATE_OR_ADDRESS = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}(?!\d)|\d{1,3}(?:\.\d{1,3}){3}$)/;

/**
 * A run of 7 or more digits, or one written in groups as people write numbers (`+91 98765 43210`,
 * `0800 123 4567`, `+1 (917) 555-0123`: groups of 2 or more digits, but a country code, 9 or more in
 * all, or 7 after a `+`). Other numbers side by side (`500 1024`) are not one. `text` is written
 * with plain spaces and `+`.
 */
function looksLikeNumber(text: string): boolean {
  const plus = text.startsWith('+');
  const number = plus ? text.slice(1) : text;
  if (DATE_OR_ADDRESS.test(number)) return false;
  const groups = number.split(/\D+/).filter(Boolean);
  const digits = groups.join('').length;
  if (groups.length === 1) return digits >= 7;
  return (
    groups.slice(plus ? 1 : 0).every((group) => group.length >= 2) && (digits >= 9 || (plus && digits >= 7))
  );
}

/** The text with every phone number in it masked as {@link maskNumber} does. */
export function maskNumbersInText(text: string): string {
  return text.replace(DIGITS_IN_TEXT, (match, uuid: string | undefined) => {
    if (uuid !== undefined) return match;
    // As a query string writes it: `%2B` is `+`, and `%20` or `+` between groups a space.
    const plain = match.replace(/^%2b/i, '+').replace(/(?!^)\+|%20/g, ' ');
    if (looksLikeNumber(plain)) return maskNumber(plain);
    // Numbers side by side, one of which may be a phone number on its own.
    return plain.includes(' ') && plain === match
      ? match
          .split(' ')
          .map((part) => maskNumbersInText(part))
          .join(' ')
      : match;
  });
}

/**
 * Masks the phone numbers an error quotes, in place (message and stack), so that wherever it is
 * kept (a failed job's reason, read by trace and the dashboard) it shows no more than the logs.
 */
export function maskNumbersInError(error: Error): void {
  error.message = maskNumbersInText(error.message);
  if (error.stack) error.stack = maskNumbersInText(error.stack);
}

/**
 * A value with the phone numbers in it masked, wherever they stand: in every string (as
 * {@link maskNumbersInText}) and, with `wholeNumbers`, any integer of 7 or more digits. Objects and
 * lists are copied down to `maxDepth` levels; deeper ones are left as they are.
 */
export function maskNumbersInValue(
  value: unknown,
  options: { maxDepth: number; wholeNumbers?: boolean },
  depth = 0,
): unknown {
  if (typeof value === 'string') return maskNumbersInText(value);
  if (typeof value === 'number')
    return options.wholeNumbers && Number.isInteger(value) && value >= 1e6
      ? maskNumber(String(value))
      : value;
  if (depth > options.maxDepth || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => maskNumbersInValue(item, options, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, maskNumbersInValue(item, options, depth + 1)]),
  );
}
