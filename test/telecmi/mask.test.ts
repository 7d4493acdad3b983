import { describe, expect, it } from 'vitest';
import { maskNumbersInText } from '../../src/telecmi/mask.ts';

describe('phone numbers in free text (error messages, Slack fields)', () => {
  it.each([
    ['to 919876543210', 'to ••••3210'],
    ['to +91 98765 43210', 'to ••••3210'],
    ['alt 0800 123 4567', 'alt ••••4567'],
    ['invalid phone number +91-98765-43210', 'invalid phone number ••••3210'],
    ['call 917-555-0123 back', 'call ••••0123 back'],
    ['call +1 (917) 555-0123 back', 'call ••••0123 back'],
    ['call (917) 555-0123', 'call ••••0123'],
    ['call 917.555.0123.', 'call ••••0123.'],
    ['office (020) 7946 0958', 'office ••••0958'],
    ['query from=%2B919876543210&x=1', 'query from=••••3210&x=1'],
    ['"from":"440000000002"', '"from":"••••0002"'],
    ['no such hook (from 440000000002)', 'no such hook (from ••••0002)'],
  ])('masks %j', (text, masked) => {
    expect(maskNumbersInText(text)).toBe(masked);
  });

  it.each([
    'callId 33079756-faed-4c1a-9b2e-0123456789ab',
    'id a1234567b',
    'took 500 1024 ms',
    'HTTP 500 from port 5432',
    'at 2026-12-06 10:20:30',
    'at 2026-12-06T10:20:30.123Z',
    'on 2026-11-25',
    'connect ECONNREFUSED 192.168.100.200:443',
    'version 1.10.2',
    'job 7f3a-1234567',
  ])('leaves %j alone', (text) => {
    expect(maskNumbersInText(text)).toBe(text);
  });
});
