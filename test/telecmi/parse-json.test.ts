import { describe, expect, it } from 'vitest';
import { JsonTooDeepError, MAX_JSON_DEPTH, parseJsonBody } from '../../src/telecmi/index.ts';
import { listSamples, loadSampleText } from '../helpers/samples.ts';

describe('parseJsonBody', () => {
  it('parses ordinary JSON like JSON.parse', () => {
    const text = '{"a":1,"b":"x","c":[true,null,1.5],"d":{"e":-2}}';
    expect(parseJsonBody(text)).toEqual(JSON.parse(text));
  });

  it.each(listSamples())('%s: same value as JSON.parse (no sample has an unsafe number)', (name) => {
    const text = loadSampleText(name);
    expect(parseJsonBody(text)).toEqual(JSON.parse(text));
  });

  it('keeps a 19-digit number as its digits', () => {
    expect(parseJsonBody('{"from":12345678901234567890}')).toEqual({ from: '12345678901234567890' });
  });

  it('keeps 2^53 + 1 as its digits, and a safe 16-digit number as a number', () => {
    expect(parseJsonBody('{"a":9007199254740993,"b":1234567890123456}')).toEqual({
      a: '9007199254740993',
      b: 1234567890123456,
    });
  });

  it('on the lossless path, safe numbers stay numbers, nested values too', () => {
    const text =
      '{"filename":"16506305548176941220057791_2222223.mp3","to":442000000001,"rate":0.5,"n":[-3,{"big":-12345678901234567890}]}';
    expect(parseJsonBody(text)).toEqual({
      filename: '16506305548176941220057791_2222223.mp3',
      to: 442000000001,
      rate: 0.5,
      n: [-3, { big: '-12345678901234567890' }],
    });
  });

  it('keeps a number that overflows a double as its literal', () => {
    expect(parseJsonBody('{"x":1e400,"id":12345678901234567890}')).toEqual({
      x: '1e400',
      id: '12345678901234567890',
    });
  });

  it('lets the last of repeated keys win on both paths, like JSON.parse', () => {
    expect(parseJsonBody('{"a":1,"a":2}')).toEqual({ a: 2 });
    expect(parseJsonBody('{"a":1,"a":12345678901234567890}')).toEqual({ a: '12345678901234567890' });
  });

  it('stores a __proto__ key as an own field on both paths, like JSON.parse', () => {
    for (const text of ['{"__proto__":{"x":1}}', '{"__proto__":{"x":12345678901234567890}}']) {
      const value = parseJsonBody(text) as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
    }
  });

  it('returns non-object JSON too (the receiver decides what it accepts)', () => {
    expect(parseJsonBody('[1,2]')).toEqual([1, 2]);
    expect(parseJsonBody(' "x" ')).toBe('x');
    expect(parseJsonBody('12345678901234567890')).toBe('12345678901234567890');
  });

  it.each([
    '{"a":1,}',
    '{"a":1',
    '',
    '   ',
    '{a:1}',
    "{'a':1}",
    '{"a":1} x',
    '{"a":12345678901234567890,}',
    '{"a":12345678901234567890',
  ])('throws a SyntaxError that names the position: %j', (text) => {
    expect(() => parseJsonBody(text)).toThrow(SyntaxError);
    expect(() => parseJsonBody(text)).toThrow(/position \d+/);
  });

  const nested = (depth: number, inner = '1') =>
    `${'['.repeat(depth - 1)}{"a":${inner}}${']'.repeat(depth - 1)}`;

  it.each([
    ['JSON.parse', '1'],
    ['lossless', '12345678901234567890'],
  ])('%s path: accepts nesting up to MAX_JSON_DEPTH levels', (_, inner) => {
    expect(MAX_JSON_DEPTH).toBe(32);
    expect(() => parseJsonBody(nested(MAX_JSON_DEPTH, inner))).not.toThrow();
    // Brackets inside strings are text, not nesting.
    expect(parseJsonBody(`{"s":"${'['.repeat(100)}","n":${inner}}`)).toHaveProperty('s');
  });

  it.each([
    ['JSON.parse', MAX_JSON_DEPTH + 1, '1'],
    ['JSON.parse', 40_000, '1'],
    ['lossless', MAX_JSON_DEPTH + 1, '12345678901234567890'],
    // Deep enough to overflow the lossless parser's recursion: refused before it starts.
    ['lossless', 40_000, '12345678901234567890'],
  ])('%s path: refuses %i levels of nesting with a JsonTooDeepError', (_, depth, inner) => {
    expect(() => parseJsonBody(nested(depth, inner))).toThrow(JsonTooDeepError);
    expect(() => parseJsonBody(nested(depth, inner))).toThrow(
      `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
  });
});
