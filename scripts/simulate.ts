/**
 * `npm run simulate -- --url http://localhost:3000/webhook/cdr [--rate 50] [--duration 60 | --calls N]
 * [--token T] [--resend-share 0.1] [--get-share 0.2] [--seed N] [--concurrency 50] [--samples DIR]`:
 * plays realistic TeleCMI traffic (whole calls: live events, then CDRs) against a receiver and
 * prints what it sent and what was answered. Exit code 0 when every answer was 2xx, 1 otherwise,
 * 2 for a flag mistake.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadSamples, type Summary, simulate } from '../src/simulator/run.ts';

const USAGE =
  'usage: npm run simulate -- --url URL [--rate 50] [--duration 60 | --calls N] [--token T (default: $WEBHOOK_TOKEN)]\n' +
  '         [--resend-share 0.1] [--get-share 0.2] [--seed N] [--concurrency 50] [--samples DIR]';

function fail(message: string): never {
  process.stderr.write(`simulate: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string', default: '50' },
      duration: { type: 'string' },
      calls: { type: 'string' },
      token: { type: 'string' },
      'resend-share': { type: 'string', default: '0.1' },
      'get-share': { type: 'string', default: '0.2' },
      seed: { type: 'string' },
      concurrency: { type: 'string', default: '50' },
      samples: {
        type: 'string',
        default: fileURLToPath(new URL('../../shared/telecmi/samples/', import.meta.url)),
      },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
}
try {
  values = parse();
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

/** A number from a flag, or a clear error naming the flag. */
function number(flag: string, text: string | undefined, check: (n: number) => boolean, expected: string) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !check(value)) {
    fail(`--${flag}: expected ${expected}; got "${text}"`);
  }
  return value;
}
const positive = (n: number) => n > 0;
const wholePositive = (n: number) => Number.isInteger(n) && n > 0;
const share = (n: number) => n >= 0 && n <= 1;

if (values.url === undefined) fail('--url is required, e.g. --url http://localhost:3000/webhook/cdr');
let url: URL;
try {
  url = new URL(values.url);
} catch {
  fail(`--url: expected an http:// or https:// URL; got "${values.url}"`);
}
if (url.protocol !== 'http:' && url.protocol !== 'https:') {
  fail(`--url: expected an http:// or https:// URL; got "${values.url}"`);
}
if (values.token === '') fail('--token: must not be empty');

const options = {
  url: url.toString(),
  rate: number('rate', values.rate, positive, 'notifications per second, above 0') as number,
  duration: number('duration', values.duration, positive, 'seconds, above 0'),
  calls: number('calls', values.calls, wholePositive, 'a whole number of calls, 1 or more'),
  // From the environment by default: a flag's value shows on screen (npm echoes the command) and in `ps`.
  token: values.token ?? (process.env.WEBHOOK_TOKEN || undefined),
  resendShare: number('resend-share', values['resend-share'], share, 'a share from 0 to 1'),
  getShare: number('get-share', values['get-share'], share, 'a share from 0 to 1'),
  seed: number(
    'seed',
    values.seed,
    (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32,
    'a whole number from 0 to 4294967295',
  ),
  concurrency: number('concurrency', values.concurrency, wholePositive, 'a whole number, 1 or more'),
  samplesDir: values.samples,
};
try {
  loadSamples(options.samplesDir);
} catch (error) {
  fail(`--samples: ${(error as Error).message}`);
}

const perSecond = (count: number, ms: number) => (ms > 0 ? (count / (ms / 1000)).toFixed(1) : '0.0');
const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([key, count]) => `${key} ${count}`)
    .join(', ') || 'none';

function progress(s: Summary): void {
  const answered2xx = Object.entries(s.statuses)
    .filter(([status]) => status.startsWith('2'))
    .reduce((sum, [, count]) => sum + count, 0);
  const other = Object.values(s.statuses).reduce((sum, count) => sum + count, 0) - answered2xx;
  process.stderr.write(
    `[${Math.round(s.elapsedMs / 1000)} s] ${s.sent} sent (${perSecond(s.sent, s.elapsedMs)}/s), ` +
      `${s.calls} calls, 2xx ${answered2xx}, other ${other}, errors ${s.errors}\n`,
  );
}

const target = new URL(url);
target.search = '';
process.stderr.write(
  `simulate: ${target} at ${options.rate}/s, ${options.calls === undefined ? `${options.duration ?? 60} s` : `${options.calls} calls`}\n`,
);
const summary = await simulate({ ...options, onProgress: progress });

console.log(
  [
    `sent ${summary.sent} notifications (${summary.distinct} distinct + ${summary.resends} resends) ` +
      `of ${summary.calls} calls in ${(summary.elapsedMs / 1000).toFixed(1)} s ` +
      `(${perSecond(summary.sent, summary.elapsedMs)}/s), seed ${summary.seed}`,
    `  by kind:     ${list(summary.byKind)}`,
    `  by method:   ${list(summary.byMethod)}`,
    `  answers:     ${list(summary.statuses)}`,
    ...Object.entries(summary.refusals).map(
      ([status, said]) =>
        `  ${`${status} said:`.padEnd(13)}${said}${status === '401' && !options.token ? ' (give the token in WEBHOOK_TOKEN, or with --token)' : ''}`,
    ),
    `  duplicate:   ${summary.duplicates} answered "duplicate": true; ` +
      `resends not recognised: ${summary.resendsNotRecognised}` +
      (summary.originalsAnsweredDuplicate > 0
        ? `; first sends answered duplicate: ${summary.originalsAnsweredDuplicate} (seed played before?)`
        : ''),
    `  errors:      ${summary.errors}${summary.errorMessages.length > 0 ? ` (${summary.errorMessages.join('; ')})` : ''}`,
    summary.ok
      ? 'ok: every notification was answered 2xx'
      : 'FAILED: not every notification was answered 2xx',
  ].join('\n'),
);
process.exit(summary.ok ? 0 : 1);
