import { isSafeNumber, parse } from 'lossless-json';

/**
 * A number literal of 16+ digits may not fit a JS number exactly (2^53 has 16 digits); shorter
 * ones always do, so bodies without one take the fast native parser. A number literal can only
 * follow `:`, `,`, `[` or start the text, which skips digit runs inside strings such as recording
 * file names (`1634720915260737218351_2222223.mp3`); a string that merely looks like one only
 * costs the slower parser.
 */
const LONG_NUMBER_LITERAL = /(?:^|[:,[])\s*-?[\d.]{16,}/;

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
  if (!LONG_NUMBER_LITERAL.test(text)) {
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
