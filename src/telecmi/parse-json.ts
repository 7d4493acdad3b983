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
 * TeleCMI's payloads are flat. Deeper nesting is refused: the lossless parser recurses (it overflows
 * the stack a few thousand levels down), and so do the serialisers every stored value later meets.
 */
export const MAX_JSON_DEPTH = 32;

export class JsonTooDeepError extends Error {
  constructor() {
    super(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    this.name = 'JsonTooDeepError';
  }
}

/**
 * Parses a JSON request body so that phone numbers and ids survive exactly: TeleCMI sends them as
 * JSON numbers, and one of 16+ digits would be silently rounded by `JSON.parse`. Such numbers come
 * back as their digits, as a string; every other number is a JS number.
 *
 * Throws a `SyntaxError` whose message says what is wrong and at which position, or a
 * {@link JsonTooDeepError}.
 */
export function parseJsonBody(text: string): unknown {
  if (!LONG_NUMBER_LITERAL.test(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Malformed: the lossless parser gives the same verdict, and its message always names the
      // position (`JSON.parse` says only "Unexpected end of JSON input" for a truncated body).
      return parseLossless(text);
    }
    // `JSON.parse` does not recurse, so the depth is checked on its result: a walk over a flat
    // object costs a quarter of a scan of the text.
    if (valueNestedDeeperThan(value, MAX_JSON_DEPTH)) throw new JsonTooDeepError();
    return value;
  }
  return parseLossless(text);
}

function parseLossless(text: string): unknown {
  if (textNestedDeeperThan(text, MAX_JSON_DEPTH)) throw new JsonTooDeepError();
  try {
    return parse(text, null, LOSSLESS_OPTIONS);
  } catch (error) {
    if (error instanceof SyntaxError) throw error;
    throw new SyntaxError(`invalid JSON: ${(error as Error).message}`);
  }
}

/** Whether objects and arrays nest more than `levels` deep in `value`, the outermost counting as one. */
function valueNestedDeeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (valueNestedDeeperThan(child, levels - 1)) return true;
  }
  return false;
}

/** The same question asked of JSON text, before parsing it: one pass, skipping strings. */
function textNestedDeeperThan(text: string, levels: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 92 /* \\ */) i++;
      else if (code === 34 /* " */) inString = false;
    } else if (code === 34) inString = true;
    else if (code === 123 /* { */ || code === 91 /* [ */) {
      if (++depth > levels) return true;
    } else if (code === 125 /* } */ || code === 93 /* ] */) depth--;
  }
  return false;
}
