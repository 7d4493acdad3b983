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
    ['call 9876543210.', 'call ••••3210.'],
    ['recording 9876543210.mp3', 'recording ••••3210.mp3'],
    ['GET /archive/919876543210.json', 'GET /archive/••••3210.json'],
    ['9876543210-agent', '••••3210-agent'],
    ['+91 98765 43210.wav', '••••3210.wav'],
    ['+91 98765-43210', '••••3210'],
    ['098765 43210', '••••3210'],
    ['from=%2B91%2098765%2043210&to=1', 'from=••••3210&to=1'],
    ['from=%2B91+98765+43210', 'from=••••3210'],
    ['from=%2b919876543210', 'from=••••3210'],
    ['{"to":919876543210,"n":1}', '{"to":••••3210,"n":1}'],
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
    'call 33079756-FAED-4C1A-9B2E-0123456789AB',
    'took 123.456789 s',
    'price 12345.6789',
    'INR 12345678.50',
    'memory 512.00 1024.00 2048.00',
    'valid 12.12.2026-13.12.2026',
    'answered in 45 s, waited 12 s',
    'HTTP 503 after 10000 ms',
  ])('leaves %j alone', (text) => {
    expect(maskNumbersInText(text)).toBe(text);
  });
});
