import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { FilterConfig } from '../../src/config/index.ts';
import { compileFilter } from '../../src/fanout/filter.ts';
import { listSamples, sampleEvent } from '../helpers/samples.ts';

const names = listSamples();
const events = names.map((name) => sampleEvent(name));
const select = (filter: unknown) => events.filter(compileFilter(v.parse(FilterConfig, filter)));
/** The samples a filter takes, by file name. */
const selectNames = (filter: unknown) => {
  const wants = compileFilter(v.parse(FilterConfig, filter));
  return names.filter((_, index) => wants(events[index] as (typeof events)[number]));
};
const problemsOf = (filter: unknown) =>
  v.safeParse(FilterConfig, filter).issues?.map((issue) => `${v.getDotPath(issue)}: ${issue.message}`) ?? [];

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

  it("not leaves out what matches every key of it: missed incoming calls without the agents' own records", () => {
    const missedIncoming = { kind: 'cdr', status: 'missed', direction: 'inbound' };
    // Leg b: one "user missed" CDR per agent who did not pick up, besides the call's own.
    expect(selectNames(missedIncoming)).toEqual([
      'chub-cdr-incoming-missed.json',
      'chub-cdr-incoming-user-missed.json',
      'piopiy-cdr-inbound-missed-leg-a.json',
    ]);
    // CHUB's own CDR of an incoming call has no leg; PIOPIY's says a.
    expect(selectNames({ ...missedIncoming, not: { leg: 'b' } })).toEqual([
      'chub-cdr-incoming-missed.json',
      'piopiy-cdr-inbound-missed-leg-a.json',
    ]);
    expect(selectNames({ ...missedIncoming, leg: 'a' })).toEqual(['piopiy-cdr-inbound-missed-leg-a.json']);
    // Every key of `not` must match for an event to be left out; a list there means any of.
    expect(selectNames({ ...missedIncoming, not: { leg: 'b', provider: 'piopiy' } })).toEqual(
      selectNames(missedIncoming),
    );
    expect(selectNames({ kind: 'cdr', not: { status: ['missed', 'answered'] } })).toEqual([]);
  });

  it('refuses values outside the documented ones, which would match nothing, and an empty not', () => {
    expect(problemsOf({ kind: 'cdrs', leg: ['a', 'c'], direction: 'incoming', provider: 'chubb' })).toEqual([
      'kind: expected cdr, event or other, or a list of them',
      'direction: expected inbound or outbound, or a list of them',
      'leg: expected a or b, or a list of them',
      'provider: expected chub or piopiy, or a list of them',
    ]);
    expect(problemsOf({ not: { kind: 'evnt' } })).toEqual([
      'not.kind: expected cdr, event or other, or a list of them',
    ]);
    expect(problemsOf({ not: {} })).toEqual(['not: expected at least one key, such as {leg: b}']);
    // Statuses stay open: TeleCMI adds new ones, and they pass through.
    expect(problemsOf({ status: 'some_new_status', kind: 'CDR', leg: 'B' })).toEqual([]);
  });

  it('refuses an app id or virtual number that is no number (it would match nothing)', () => {
    const message = 'expected digits; quote a long number ("440000000000") so that YAML keeps every digit';
    expect(problemsOf({ appId: 'sales' })).toEqual([`appId: ${message}`]);
    expect(problemsOf({ virtualNumber: ['main', '+44 0000 000000'] })).toEqual([
      `virtualNumber.0: ${message}`,
    ]);
    expect(problemsOf({ virtualNumber: '(020) 7946-0958' })).toEqual([]);
  });

  it('minAnsweredSec keeps calls answered at least that long', () => {
    expect(select({ minAnsweredSec: 12 }).map((event) => event.answeredSec)).toEqual([15]);
  });
});
