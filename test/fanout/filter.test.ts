import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { FilterConfig } from '../../src/config/index.ts';
import { compileFilter } from '../../src/fanout/filter.ts';
import { listSamples, sampleEvent } from '../helpers/samples.ts';

const events = listSamples().map((name) => sampleEvent(name));
const select = (filter: unknown) => events.filter(compileFilter(v.parse(FilterConfig, filter)));

describe('destination filters', () => {
  it('an empty filter takes everything', () => {
    expect(select({})).toHaveLength(events.length);
  });

  it('a single value and a list mean the same, ignoring case', () => {
    expect(select({ kind: 'cdr' })).toEqual(select({ kind: ['CDR'] }));
    expect(select({ kind: 'cdr' }).every((event) => event.kind === 'cdr')).toBe(true);
  });

  it('a list means any of', () => {
    const picked = select({ status: ['missed', 'out_started'] });
    expect(new Set(picked.map((event) => event.status))).toEqual(new Set(['missed', 'out_started']));
  });

  it('all keys must match', () => {
    const picked = select({ kind: 'event', direction: 'outbound', leg: 'b', provider: 'chub' });
    expect(picked.length).toBeGreaterThan(0);
    for (const event of picked)
      expect([event.kind, event.direction, event.leg, event.provider]).toEqual([
        'event',
        'outbound',
        'b',
        'chub',
      ]);
  });

  it('an event without the field does not match a filter on it', () => {
    expect(select({ team: 'Sales_2222223' }).every((event) => event.team === 'Sales_2222223')).toBe(true);
    expect(select({ user: '204_2222223' }).map((event) => event.user)).toEqual(
      events.filter((event) => event.user === '204_2222223').map((event) => event.user),
    );
  });

  it('appId matches the app id, given as a number or as text', () => {
    const picked = select({ appId: 2223343 });
    expect(picked.length).toBeGreaterThan(0);
    expect(picked.every((event) => event.appId === '2223343')).toBe(true);
    expect(select({ appId: ['2223343'] })).toEqual(picked);
    expect(select({ appId: [2222222, 2222224] }).map((event) => event.appId)).toEqual(
      events
        .filter((event) => ['2222222', '2222224'].includes(event.appId ?? ''))
        .map((event) => event.appId),
    );
  });

  it('virtualNumber matches by digits only, however the number is written', () => {
    const withNumber = events.filter((event) => event.virtualNumber === '440000000000');
    expect(withNumber.length).toBeGreaterThan(0);
    expect(select({ virtualNumber: 440000000000 })).toEqual(withNumber);
    expect(select({ virtualNumber: '+44 0000 000000' })).toEqual(withNumber);
    expect(select({ virtualNumber: ['449999999999'] })).toEqual([]);
  });

  it('refuses a number too long for YAML to keep every digit, asking for quotes', () => {
    // What YAML makes of an unquoted `virtualNumber: 12345678901234567` (the last digit is lost).
    const result = v.safeParse(FilterConfig, { virtualNumber: Number('12345678901234567') });
    expect(result.success).toBe(false);
    expect(result.issues?.[0]?.message).toBe(
      'expected digits; quote a long number ("440000000000") so that YAML keeps every digit',
    );
  });

  it('minAnsweredSec keeps calls answered at least that long', () => {
    expect(select({ minAnsweredSec: 12 }).map((event) => event.answeredSec)).toEqual([15]);
  });
});
