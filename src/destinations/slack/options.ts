import * as v from 'valibot';
import { boolean, proxyUrl, timeoutMs, urlWithScheme } from '../../config/fields.ts';
import { Template } from '../template-schema.ts';

export const SlackOptions = v.pipe(
  v.object({
    type: v.literal('slack'),
    webhookUrl: v.pipe(urlWithScheme(['https', 'http']), v.description('A Slack incoming-webhook URL.')),
    maskNumbers: v.pipe(
      v.optional(boolean, false),
      v.description('Show only the last 4 digits of phone numbers.'),
    ),
    timeoutMs: timeoutMs(10_000),
    proxy: v.optional(proxyUrl),
    /**
     * Replaces the built-in Block Kit message: the template is the Slack payload (a template that
     * renders to a plain string is sent as `{ text }`).
     */
    template: v.optional(Template),
  }),
  v.description('type: slack: a message per event through an incoming webhook.'),
);
