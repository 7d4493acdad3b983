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

  it('minAnsweredSec keeps calls answered at least that long', () => {
    expect(select({ minAnsweredSec: 12 }).map((event) => event.answeredSec)).toEqual([15]);
  });
});
