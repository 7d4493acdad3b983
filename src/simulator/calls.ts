/**
 * Builds the notifications TeleCMI sends for one simulated call, from the documented sample payloads:
 * the live events in order, then the CDRs. Pure: everything random comes from the seeded `rng`,
 * every time from `startMs`, so a seed gives the same calls every time.
 */

/** The documented payloads a simulated call is built from (file names in the samples folder). */
export const SAMPLE_FILES = [
  'chub-event-incoming-waiting.json',
  'chub-event-agent-started.json',
  'chub-event-agent-answered.json',
  'chub-event-incoming-answered.json',
  'chub-event-agent-hangup.json',
  'chub-event-incoming-hangup-inferred.json',
  'chub-cdr-incoming-answered.json',
  'chub-cdr-incoming-missed.json',
  'chub-cdr-incoming-user-missed.json',
  'chub-event-outgoing-started-leg-a.json',
  'chub-event-outgoing-started-leg-b-inferred.json',
  'chub-event-outgoing-answered-leg-a.json',
  'chub-event-outgoing-answered-leg-b.json',
  'chub-event-outgoing-hangup-leg-a.json',
  'chub-event-outgoing-hangup-leg-b.json',
  'chub-cdr-outgoing-answered-leg-a.json',
  'chub-cdr-outgoing-answered-leg-b.json',
  'chub-cdr-outgoing-missed-leg-a.json',
  'chub-cdr-outgoing-missed-leg-b.json',
  'piopiy-event-outbound-started-leg-a.json',
  'piopiy-event-outbound-started-leg-b.json',
  'piopiy-event-outbound-answered-leg-a.json',
  'piopiy-event-outbound-answered-leg-b.json',
  'piopiy-cdr-outbound-missed-leg-a.json',
] as const;

export type SampleFile = (typeof SAMPLE_FILES)[number];
export type Fields = Record<string, string | number | boolean>;
export type Samples = Record<SampleFile, Fields>;
export type Method = 'GET' | 'POST';

export interface Notification {
  fields: Fields;
  method: Method;
  kind: 'cdr' | 'event';
  /** The documented payload it was built from: same keys (some optional ones dropped), same types. */
  sample: SampleFile;
  /** A resend: an identical copy of the notification just before it. */
  resend: boolean;
}

export interface CallOptions {
  /** Epoch ms of the call's first notification; later ones are later. */
  startMs: number;
  /** Share of notifications sent twice (default 0.1). */
  resendShare?: number;
  /** Share of notifications sent by GET with the fields in the query string (default 0.2). */
  getShare?: number;
}

/** Uniform in [0, 1). */
export type Rng = () => number;

/** mulberry32: small, fast, good enough for test traffic. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
const digits = (rng: Rng, n: number) => Array.from({ length: n }, () => int(rng, 0, 9)).join('');

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => int(rng, 0, 15).toString(16));
  hex[12] = '4';
  hex[16] = pick(rng, ['8', '9', 'a', 'b']);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A click-to-call request id, like `c0Sq3mbykoHgVgLfyWTr6cV6HB5Z0Fk4AXpZFkOClSr`. */
function requestId(rng: Rng): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: 43 }, () => pick(rng, [...alphabet])).join('');
}

/** Country code and national digits: 11 to 15 digits in all (China 13, Germany 14, Iridium 15). */
const NUMBER_PLANS: readonly [string, number][] = [
  ['44', 10],
  ['44', 10],
  ['91', 10],
  ['91', 10],
  ['1', 10],
  ['86', 11],
  ['49', 12],
  ['8816', 11],
];

/** An international number as digits (never a leading zero: CDRs carry numbers as JSON numbers). */
function phone(rng: Rng): string {
  const [country, length] = pick(rng, NUMBER_PLANS);
  return `${country}${int(rng, 1, 9)}${digits(rng, length - 1)}`;
}

/** A recording's file name: start time in ms, 9 more digits, the app id. */
const recording = (rng: Rng, ms: number, appId: number) => `${ms}${digits(rng, 9)}_${appId}.mp3`;

/** `custom` as CHUB passes it through: usually JSON, sometimes not (NOTES.md quirk 5). */
function custom(rng: Rng): string {
  return pick(rng, [
    '{"crm":"true"}',
    '{"key":"value"}',
    `{"crm":"true","ticket":"${digits(rng, 6)}"}`,
    "{ 'Name': 'Akil', 'ID':8915726 }",
  ]);
}

interface Agent {
  user: string;
  phone: string;
}
interface ChubAccount {
  appId: number;
  virtualNumbers: string[];
  teams: string[];
  agents: Agent[];
}
interface PiopiyApp {
  appId: number;
  virtualNumbers: string[];
}

/** A fixed directory of accounts, so that calls of any seed share numbers, agents and teams. */
const directory = (() => {
  const rng = seededRng(2222223);
  const chub = [2222223, 2223343, 2231170].map(
    (appId): ChubAccount => ({
      appId,
      virtualNumbers: [phone(rng), phone(rng)],
      teams: ['Sales', 'Support', 'Billing'].map((team) => `${team}_${appId}`),
      agents: Array.from({ length: 8 }, (_, i) => ({ user: `${201 + i}_${appId}`, phone: phone(rng) })),
    }),
  );
  const piopiy = [2222222, 2222224].map(
    (appId): PiopiyApp => ({ appId, virtualNumbers: [phone(rng), phone(rng)] }),
  );
  return { chub, piopiy };
})();

type Overrides = Record<string, string | number | boolean | undefined>;

/** What a call produces before methods and resends are chosen. */
interface Step {
  sample: SampleFile;
  fields: Fields;
}

class Call {
  readonly steps: Step[] = [];
  /** Epoch ms of the last notification; every `at` moves it forward. */
  #clock: number;

  constructor(
    readonly rng: Rng,
    readonly samples: Samples,
    startMs: number,
  ) {
    this.#clock = startMs;
  }

  /** Moves the call's clock on by a random step and returns it (so `time` strictly increases). */
  at(minMs: number, maxMs: number): number {
    this.#clock += int(this.rng, Math.max(1, minMs), Math.max(1, maxMs));
    return this.#clock;
  }

  /**
   * The sample with its values replaced by `overrides` (an undefined value drops the field). A
   * value takes the sample's type: a phone number given as digits becomes a JSON number where the
   * sample has a number and stays a string where it has a string.
   */
  add(sample: SampleFile, overrides: Overrides): void {
    const fields: Fields = { ...this.samples[sample] };
    for (const [key, value] of Object.entries(overrides)) {
      if (!(key in fields)) throw new Error(`${sample} has no field "${key}"`);
      if (value === undefined) delete fields[key];
      else if (typeof fields[key] === 'number' && typeof value === 'string') fields[key] = Number(value);
      else if (typeof fields[key] === 'string' && typeof value === 'number') fields[key] = String(value);
      else fields[key] = value;
    }
    this.steps.push({ sample, fields });
  }
}

/** CHUB incoming call, answered by an agent or missed (then one user-missed CDR per agent rung). */
function chubIncoming(call: Call, answered: boolean): void {
  const { rng } = call;
  const account = pick(rng, directory.chub);
  const appid = account.appId;
  const conversation = uuid(rng);
  const caller = phone(rng);
  const virtualNumber = pick(rng, account.virtualNumbers);
  const team = pick(rng, account.teams);
  const ivr_name = pick(rng, ['salesivr', 'supportivr', 'mainivr']);
  const customValue = custom(rng);
  const legA = {
    conversation_uuid: conversation,
    cmiuuid: conversation,
    from: caller,
    to: virtualNumber,
    app_id: appid,
    custom: customValue,
  };

  const waitingAt = call.at(0, 0);
  call.add('chub-event-incoming-waiting.json', { ...legA, time: waitingAt });

  if (answered) {
    const agent = pick(rng, account.agents);
    const legB = {
      conversation_uuid: conversation,
      cmiuuid: uuid(rng),
      from: caller,
      app_id: appid,
      user: agent.user,
      team,
      custom: customValue,
    };
    call.add('chub-event-agent-started.json', { ...legB, time: call.at(500, 8000) });
    const answeredAt = call.at(2000, 20000);
    call.add('chub-event-agent-answered.json', { ...legB, time: answeredAt });
    call.add('chub-event-incoming-answered.json', { ...legA, time: call.at(20, 400) });
    const talkSec = int(rng, 3, 900);
    const hangupAt = call.at(talkSec * 1000, talkSec * 1000 + 999);
    call.add('chub-event-agent-hangup.json', { ...legB, time: hangupAt });
    call.add('chub-event-incoming-hangup-inferred.json', { ...legA, time: call.at(20, 400) });
    call.add('chub-cdr-incoming-answered.json', {
      virtual_number: virtualNumber,
      custom: customValue,
      appid,
      cmiuuid: conversation,
      user: agent.user,
      to: agent.phone,
      from: caller,
      time: call.at(500, 3000),
      answeredsec: talkSec,
      team,
      hangup_reason: pick(rng, ['recv_bye', 'sent_bye']),
      filename: recording(rng, answeredAt, appid),
      conversation_uuid: conversation,
      ivr_name,
    });
    return;
  }

  const hangupAt = call.at(3000, 180_000);
  call.add('chub-event-incoming-hangup-inferred.json', { ...legA, time: hangupAt });
  const voicemail = rng() < 0.3;
  call.add('chub-cdr-incoming-missed.json', {
    virtual_number: virtualNumber,
    custom: customValue,
    appid,
    cmiuuid: conversation,
    from: caller,
    time: call.at(500, 3000),
    waitedsec: Math.round((hangupAt - waitingAt) / 1000),
    hangup_reason: pick(rng, ['recv_bye', 'recv_cancel']),
    voicemail: voicemail ? true : undefined,
    voicename: voicemail ? recording(rng, hangupAt, appid) : undefined,
    conversation_uuid: conversation,
    team,
    ivr_name,
  });
  const rung = new Set<Agent>();
  for (let n = int(rng, 0, 3); rung.size < n; ) rung.add(pick(rng, account.agents));
  for (const agent of rung) {
    call.add('chub-cdr-incoming-user-missed.json', {
      custom: customValue,
      appid,
      cmiuuid: uuid(rng),
      user: agent.user,
      to: agent.phone,
      from: caller,
      time: call.at(10, 500),
      team,
      hangup_reason: 'recv_cancel',
    });
  }
}

/**
 * CHUB click-to-call: leg a rings the agent, then leg b the customer; one CDR per leg, joined by
 * `call_id`. Missed: the agent picked up, the customer did not.
 */
function chubOutgoing(call: Call, answered: boolean): void {
  const { rng } = call;
  const account = pick(rng, directory.chub);
  const agent = pick(rng, account.agents);
  const customer = phone(rng);
  const virtualNumber = pick(rng, account.virtualNumbers);
  const legA = uuid(rng);
  const legB = uuid(rng);
  const common = {
    call_id: uuid(rng),
    user: agent.user,
    custom: custom(rng),
    extra_params: '{"click2call":"true"}',
    request_id: requestId(rng),
  };
  const event = {
    ...common,
    callerid: agent.phone,
    to: customer,
    app_id: account.appId,
    conversation_uuid: legA,
  };
  const a = { ...event, cmiuuid: legA };
  const b = { ...event, cmiuuid: legB };

  const startedAt = call.at(0, 0);
  call.add('chub-event-outgoing-started-leg-a.json', { ...a, time: startedAt });
  const aAnsweredAt = call.at(2000, 15000);
  call.add('chub-event-outgoing-answered-leg-a.json', { ...a, time: aAnsweredAt });
  call.add('chub-event-outgoing-started-leg-b-inferred.json', { ...b, time: call.at(200, 1500) });
  const cdr = { ...common, virtual_number: virtualNumber, appid: account.appId };

  if (answered) {
    const bAnsweredAt = call.at(3000, 30000);
    call.add('chub-event-outgoing-answered-leg-b.json', { ...b, time: bAnsweredAt });
    const endAt = call.at(3000, 900_000);
    const customerHungUp = rng() < 0.5;
    call.add('chub-event-outgoing-hangup-leg-a.json', { ...a, time: call.at(20, 400) });
    call.add('chub-event-outgoing-hangup-leg-b.json', { ...b, time: call.at(20, 400) });
    call.add('chub-cdr-outgoing-answered-leg-a.json', {
      ...cdr,
      to: agent.phone,
      cmiuuid: legA,
      time: call.at(500, 3000),
      answeredsec: Math.round((endAt - aAnsweredAt) / 1000),
      hangup_reason: customerHungUp ? 'recv_bye' : 'sent_bye',
    });
    call.add('chub-cdr-outgoing-answered-leg-b.json', {
      ...cdr,
      to: customer,
      cmiuuid: legB,
      time: call.at(10, 500),
      answeredsec: Math.round((endAt - bAnsweredAt) / 1000),
      hangup_reason: customerHungUp ? 'sent_bye' : 'recv_bye',
      filename: recording(rng, bAnsweredAt, account.appId),
    });
    return;
  }

  call.add('chub-event-outgoing-hangup-leg-b.json', { ...b, time: call.at(5000, 45000) });
  call.add('chub-event-outgoing-hangup-leg-a.json', { ...a, time: call.at(20, 400) });
  call.add('chub-cdr-outgoing-missed-leg-a.json', {
    ...cdr,
    to: agent.phone,
    cmiuuid: legA,
    time: call.at(500, 3000),
    hangup_reason: 'recv_cancel',
  });
  call.add('chub-cdr-outgoing-missed-leg-b.json', {
    ...cdr,
    to: customer,
    cmiuuid: legB,
    time: call.at(10, 500),
    hangup_reason: pick(rng, ['sent_reject', 'recv_cancel']),
  });
}

/**
 * PIOPIY outbound call: leg a to the first party, bridged to the second (leg b) when answered.
 * PIOPIY documents only a missed outbound CDR: an answered one is the same with `status: answered`
 * and a `duration` (the documented outbound CDR has no `answer_time`, so neither has this one).
 */
function piopiyOutbound(call: Call, answered: boolean): void {
  const { rng } = call;
  const app = pick(rng, directory.piopiy);
  const vn = pick(rng, app.virtualNumbers);
  const request = requestId(rng);
  const firstParty = phone(rng);
  const secondParty = phone(rng);
  const common = {
    appid: app.appId,
    callerid: vn,
    from: vn,
    conversation_uuid: request,
    request_id: request,
    extra_params: pick(rng, ['{"key":"value"}', `{"order":"${digits(rng, 8)}"}`]),
  };
  const a = { ...common, to: firstParty, cmiuuid: uuid(rng) };
  const b = { ...common, to: secondParty, cmiuuid: uuid(rng) };
  const seconds = (ms: number) => Math.floor(ms / 1000);
  const balance = int(rng, 5_000, 1_000_000) / 1000;

  const aStartedAt = call.at(0, 0);
  call.add('piopiy-event-outbound-started-leg-a.json', { ...a, vn, time: aStartedAt });
  if (!answered) {
    const endAt = call.at(5000, 45000);
    call.add('piopiy-cdr-outbound-missed-leg-a.json', {
      ...a,
      time: endAt,
      start_time: seconds(aStartedAt),
      end_time: seconds(endAt),
      duration: 0,
      call_rate: 0,
      balance: balance.toFixed(6),
      status: 'missed',
    });
    return;
  }

  const aAnsweredAt = call.at(2000, 20000);
  call.add('piopiy-event-outbound-answered-leg-a.json', { ...a, vn, time: aAnsweredAt });
  const bStartedAt = call.at(200, 1500);
  call.add('piopiy-event-outbound-started-leg-b.json', { ...b, vn, time: bStartedAt });
  const bridgedAt = call.at(2000, 20000);
  call.add('piopiy-event-outbound-answered-leg-b.json', { ...b, vn, time: bridgedAt });
  const endAt = call.at(3000, 900_000);
  const rate = int(rng, 1, 30) / 1000;
  for (const [leg, startedAt, answeredAt] of [
    [a, aStartedAt, aAnsweredAt],
    [b, bStartedAt, bridgedAt],
  ] as const) {
    const duration = seconds(endAt) - seconds(answeredAt);
    call.add('piopiy-cdr-outbound-missed-leg-a.json', {
      ...leg,
      time: call.at(10, 1000),
      start_time: seconds(startedAt),
      end_time: seconds(endAt),
      duration,
      call_rate: rate,
      balance: (balance - (rate * duration) / 60).toFixed(6),
      status: 'answered',
      leg: leg === a ? 'a' : 'b',
    });
  }
}

const SCENARIOS: readonly [weight: number, build: (call: Call) => void][] = [
  [35, (call) => chubIncoming(call, true)],
  [15, (call) => chubIncoming(call, false)],
  [15, (call) => chubOutgoing(call, true)],
  [10, (call) => chubOutgoing(call, false)],
  [15, (call) => piopiyOutbound(call, true)],
  [10, (call) => piopiyOutbound(call, false)],
];
const TOTAL_WEIGHT = SCENARIOS.reduce((sum, [weight]) => sum + weight, 0);

function scenarioFor(roll: number): (call: Call) => void {
  let left = roll * TOTAL_WEIGHT;
  for (const [weight, build] of SCENARIOS) {
    left -= weight;
    if (left < 0) return build;
  }
  return SCENARIOS[0]?.[1] ?? (() => {});
}

/**
 * The notifications of one simulated call, in the order TeleCMI sends them: live events, then CDRs,
 * `time` strictly increasing. Each gets a method (GET or POST); some are followed by their resend.
 */
export function buildCall(rng: Rng, samples: Samples, options: CallOptions): Notification[] {
  const { startMs, resendShare = 0.1, getShare = 0.2 } = options;
  const call = new Call(rng, samples, startMs);
  scenarioFor(rng())(call);

  const notifications: Notification[] = [];
  for (const { sample, fields } of call.steps) {
    const notification: Notification = {
      fields,
      method: rng() < getShare ? 'GET' : 'POST',
      kind: sample.includes('-cdr-') ? 'cdr' : 'event',
      sample,
      resend: false,
    };
    notifications.push(notification);
    if (rng() < resendShare) notifications.push({ ...notification, fields: { ...fields }, resend: true });
  }
  return notifications;
}
