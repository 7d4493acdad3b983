import type { CallEvent } from '../../telecmi/index.ts';
import { MAX_JSON_DEPTH } from '../../telecmi/index.ts';
import { maskNumber, maskNumbersInValue } from '../../telecmi/mask.ts';

/**
 * The built-in Slack message: a Block Kit payload with a one-line headline, a few fields and the
 * time, plus a `text` fallback for notifications. Pure: the same event gives the same message.
 * Recording and voicemail appear as yes/no only: their URLs carry the TeleCMI app secret.
 */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

export type SlackBlock =
  | { type: 'section'; text: MrkdwnText }
  | { type: 'section'; fields: MrkdwnText[] }
  | { type: 'context'; elements: MrkdwnText[] };

interface MrkdwnText {
  type: 'mrkdwn';
  text: string;
}

export interface SlackMessageOptions {
  /** Show only the last 4 digits of phone numbers (`••••0001`). */
  maskNumbers: boolean;
}

/**
 * The raw fields that hold people's phone numbers (kept as received in `event.raw`). The virtual
 * number (`virtual_number`, `vn`) is the business's own line: not masked.
 */
const RAW_NUMBER_FIELDS = ['from', 'to', 'callerid'] as const;
/** Free-form fields, where a CRM often puts the customer's number: masked wherever it stands. */
const RAW_FREE_FORM_FIELDS = ['custom', 'extra_params'] as const;

export function slackMessage(event: CallEvent, options: SlackMessageOptions): SlackMessage {
  // The virtual number is the business's own line (the callee of an incoming PIOPIY call): never masked.
  const number = (value: string | null) =>
    value === null ? null : formatNumber(value, options.maskNumbers && value !== event.virtualNumber);
  const headline = headlineOf(event, number);
  const fields = fieldsOf(event, number);
  const blocks: SlackBlock[] = [{ type: 'section', text: mrkdwn(headline) }];
  if (fields.length > 0) blocks.push({ type: 'section', fields: fields.map(mrkdwn) });
  blocks.push({ type: 'context', elements: [mrkdwn(contextOf(event))] });
  return { text: headline, blocks };
}

/**
 * The event with its phone numbers masked, canonical and raw: what a custom template is rendered
 * against when `maskNumbers` is on.
 */
/** Free-form values (JSON of any depth): their text, and whole numbers of 7 or more digits. */
const maskNumbersIn = (value: unknown) =>
  maskNumbersInValue(value, { maxDepth: MAX_JSON_DEPTH, wholeNumbers: true });

export function maskEventNumbers(event: CallEvent): CallEvent {
  // The callee of an incoming PIOPIY call is the virtual number itself: the business's line.
  const mask = (value: string | null) =>
    value === null || value === event.virtualNumber ? value : maskNumber(value);
  const raw = { ...event.raw };
  for (const key of RAW_NUMBER_FIELDS) {
    const value = raw[key];
    if ((typeof value === 'string' || typeof value === 'number') && String(value) !== event.virtualNumber)
      raw[key] = maskNumber(String(value));
  }
  for (const key of RAW_FREE_FORM_FIELDS) if (key in raw) raw[key] = maskNumbersIn(raw[key]);
  return {
    ...event,
    from: mask(event.from),
    to: mask(event.to),
    callerId: mask(event.callerId),
    custom: maskNumbersIn(event.custom),
    extraParams: maskNumbersIn(event.extraParams),
    raw,
  };
}

/** International numbers arrive without `+` (`440000000001`); extensions and national numbers stay as they are. */
function formatNumber(value: string, mask: boolean): string {
  if (mask) return maskNumber(value);
  return /^[1-9]\d{7,14}$/.test(value) ? `+${value}` : escapeMrkdwn(value);
}

type NumberFormat = (value: string | null) => string | null;

function headlineOf(event: CallEvent, number: NumberFormat): string {
  const from = number(event.from);
  const to = number(event.to);
  const agent = agentOf(event.user);
  const status = event.status ?? 'unknown';
  const fromPart = from ? ` from ${from}` : '';
  const toPart = to ? ` to ${to}` : '';
  const legPart = event.leg ? ` (leg ${event.leg})` : '';

  if (event.kind === 'other') return `🔀 Call-routing request${fromPart}${toPart}`;

  if (event.kind === 'cdr') {
    const talked =
      event.answeredSec !== null && event.answeredSec > 0 ? `, talked ${duration(event.answeredSec)}` : '';
    const waited = event.waitedSec !== null ? ` after waiting ${duration(event.waitedSec)}` : '';
    if (event.direction === 'inbound') {
      if (status === 'missed') {
        if (event.leg === 'b' && agent) return `📵 Agent ${agent} missed a call${fromPart}`;
        return `📞 Missed call${fromPart}${waited}${event.voicemail ? ' (voicemail left)' : ''}`;
      }
      if (status === 'answered')
        return `✅ Answered call${fromPart}${agent ? ` by agent ${agent}` : ''}${talked}`;
      return `📞 Incoming call${fromPart} ${escapeMrkdwn(status)}${talked}`;
    }
    const by = agent ? ` by agent ${agent}` : '';
    if (status === 'answered') return `📤 Outgoing call${by}${toPart}${legPart} answered${talked}`;
    if (status === 'missed') return `📤 Outgoing call${by}${toPart}${legPart} not answered`;
    return `📤 Outgoing call${by}${toPart}${legPart} ${escapeMrkdwn(status)}${talked}`;
  }

  // Live events. PIOPIY prefixes its statuses (`in_answered`, `out_bridged`, `stream_connected`).
  const verb = liveVerb(status);
  if (status === 'waiting') return `⏳ Incoming call waiting${fromPart}`;
  // The agent's leg of an incoming CHUB call: leg b, an agent, no callee, and `direction: outbound`.
  if (event.provider === 'chub' && event.leg === 'b' && agent && event.to === null) {
    const agentVerb = status === 'started' ? 'is ringing' : status === 'hangup' ? 'hung up' : verb;
    return `🎧 Agent ${agent} ${agentVerb}${from ? ` (call from ${from})` : ''}`;
  }
  if (event.direction === 'inbound') return `📞 Incoming call${fromPart}${legPart} ${verb}`;
  return `📤 Outgoing call${agent ? ` by agent ${agent}` : ''}${toPart}${legPart} ${verb}`;
}

function liveVerb(status: string): string {
  const bare = status.replace(/^(in|out)_/, '');
  switch (bare) {
    case 'hangup':
      return 'ended';
    case 'stream_connected':
      return 'stream connected';
    case 'stream_disconnected':
      return 'stream disconnected';
    default:
      return escapeMrkdwn(bare.replace(/_/g, ' '));
  }
}

function fieldsOf(event: CallEvent, number: NumberFormat): string[] {
  const fields: string[] = [];
  const add = (label: string, value: string | null) => {
    if (value !== null && value !== '') fields.push(`*${label}*\n${value}`);
  };
  add('Team', event.team === null ? null : escapeMrkdwn(stripAppSuffix(event.team)));
  add('Direction', event.direction === null ? null : escapeMrkdwn(event.direction));
  add('Agent', agentOf(event.user));
  // The business's own line, not a person's: shown in full even with maskNumbers.
  add('Virtual number', event.virtualNumber === null ? null : formatNumber(event.virtualNumber, false));
  if (event.callerId !== null && event.callerId !== event.from) add('Caller id', number(event.callerId));
  add('Duration', event.answeredSec === null ? null : duration(event.answeredSec));
  add('Waited', event.waitedSec === null ? null : duration(event.waitedSec));
  if (event.kind === 'cdr') add('Recording', event.recording !== null ? 'yes' : 'no');
  if (event.voicemail !== null) add('Voicemail', 'yes');
  if (event.hangupReason !== null) add('Hang-up', escapeMrkdwn(event.hangupReason));
  return fields.slice(0, 10); // Slack's limit per section
}

/** The time in the reader's own time zone (Slack date formatting), UTC as the fallback. */
function contextOf(event: CallEvent): string {
  const ms = Date.parse(event.occurredAt);
  const utc = `${event.occurredAt.slice(0, 19).replace('T', ' ')} UTC`;
  const time = `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${utc}>`;
  const kind = event.kind === 'cdr' ? 'call report' : event.kind === 'event' ? 'live event' : 'request';
  // The call id finds the call in TeleCMI's dashboard.
  return `${time} · ${event.provider} ${kind}${event.status ? ` (${escapeMrkdwn(event.status)})` : ''} · call ${escapeMrkdwn(event.callId)}`;
}

/** CHUB names agents and teams `<name>_<app id>` (`204_2222223`, `Sales_2222223`): the app id is noise. */
function stripAppSuffix(value: string): string {
  return value.replace(/_\d{6,}$/, '');
}

function agentOf(user: string | null): string | null {
  return user === null ? null : escapeMrkdwn(stripAppSuffix(user));
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  return s % 60 === 0 ? `${minutes} min` : `${minutes} min ${s % 60} s`;
}

/** Slack mrkdwn needs `&`, `<` and `>` escaped. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function mrkdwn(text: string): MrkdwnText {
  return { type: 'mrkdwn', text };
}
