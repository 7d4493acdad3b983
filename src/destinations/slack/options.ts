import * as v from 'valibot';
import { boolean, integer, proxyUrl, urlWithScheme } from '../../config/fields.ts';
import { Template } from '../template-schema.ts';

/** `type: slack`: a readable message per event through an incoming webhook. */
export const SlackOptions = v.object({
  type: v.literal('slack'),
  webhookUrl: urlWithScheme(['https', 'http']),
  /** Show only the last 4 digits of phone numbers (`••••0001`), in a custom template too. */
  maskNumbers: v.optional(boolean, false),
  timeoutMs: v.optional(integer(100, 300_000), 10_000),
  /** Send through this HTTP proxy (CONNECT); empty: straight. */
  proxy: v.optional(proxyUrl),
  /**
   * Replaces the built-in Block Kit message: the template is the Slack payload (a template that
   * renders to a plain string is sent as `{ text }`).
   */
  template: v.optional(Template),
});
