/**
 * Hiding phone numbers: in Slack messages (`maskNumbers`) and in log lines (unless
 * `logging.showNumbers`). Kept apart from any one destination so that both use the same rule.
 */

/** `••••0001`: the last 4 digits only. */
export function maskNumber(value: string): string {
  const digits = value.replace(/\D/g, '');
  return `••••${digits.slice(-4)}`;
}

/**
 * A run of 7 or more digits (optionally after `+`) standing on its own, i.e. not inside a longer
 * word: how a phone number looks in an error message that quotes a payload or a database row.
 * Digits inside hex ids (event ids) are left alone.
 */
const NUMBER_IN_TEXT = /(?<![\w+])\+?\d{7,}(?!\w)/g;

/** The text with every phone-number-like run of digits masked as {@link maskNumber} does. */
export function maskNumbersInText(text: string): string {
  return text.replace(NUMBER_IN_TEXT, (match) => maskNumber(match));
}

/**
 * Masks the phone numbers an error quotes, in place (message and stack), so that wherever it is
 * kept (a failed job's reason, read by trace and the dashboard) it shows no more than the logs.
 */
export function maskNumbersInError(error: Error): void {
  error.message = maskNumbersInText(error.message);
  if (error.stack) error.stack = maskNumbersInText(error.stack);
}
