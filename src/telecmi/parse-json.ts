import { isSafeNumber, parse } from 'lossless-json';

/**
 * A run of 16+ digits may be a number that a JS number cannot hold exactly (2^53 has 16 digits).
 * Shorter runs always fit, so bodies without one can take the fast native parser.
 */
const LONG_DIGIT_RUN = /\d{16,}/;

/** A JS number when the literal survives the round trip exactly, else the literal itself, as a string. */
function parseNumberLiteral(literal: string): number | string {
  return isSafeNumber(literal) ? Number(literal) : literal;
}

/** Like `JSON.parse`: for a repeated key the last value wins (lossless-json would throw instead). */
function lastValueWins({ newValue }: { newValue: unknown }): unknown {
  return newValue;
}

const LOSSLESS_OPTIONS = { parseNumber: parseNumberLiteral, onDuplicateKey: lastValueWins };

/**
 * Parses a JSON request body so that phone numbers and ids survive exactly: TeleCMI sends them as
 * JSON numbers, and one of 16+ digits would be silently rounded by `JSON.parse`. Such numbers come
 * back as their digits, as a string; every other number is a JS number.
 *
 * Throws a `SyntaxError` whose message says what is wrong and at which position.
 */
export function parseJsonBody(text: string): unknown {
  if (!LONG_DIGIT_RUN.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // Fall through: the lossless parser gives the same verdict, and its message always names the
      // position (`JSON.parse` says only "Unexpected end of JSON input" for a truncated body).
    }
  }
  try {
    return parse(text, null, LOSSLESS_OPTIONS);
  } catch (error) {
    if (error instanceof SyntaxError) throw error;
    throw new SyntaxError(`invalid JSON: ${(error as Error).message}`);
  }
}
