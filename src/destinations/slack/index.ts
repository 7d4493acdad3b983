import type { DestinationConfigOf } from '../../config/index.ts';
import type { CallEvent } from '../../telecmi/index.ts';
import { JsonEndpoint, USER_AGENT } from '../http/endpoint.ts';
import { type CompiledTemplate, compileTemplate } from '../template.ts';
import type { DeliveryContext, DeliveryReceipt, Destination, DestinationType } from '../types.ts';
import { maskEventNumbers, slackMessage } from './message.ts';

type SlackConfig = DestinationConfigOf<'slack'>;

/**
 * `type: slack`: one message per event through an incoming webhook. Slack answers 429 with
 * `Retry-After` when over its rate limit (retried, not earlier than it says) and 4xx with a reason
 * (`invalid_payload`, `no_service`, `channel_is_archived`) that no retry will fix. The webhook URL
 * is a secret: it never appears in errors or logs.
 */
class SlackDestination implements Destination {
  readonly #config: SlackConfig;
  readonly #endpoint: JsonEndpoint;
  readonly #render: CompiledTemplate | undefined;

  constructor(config: SlackConfig) {
    this.#config = config;
    this.#endpoint = new JsonEndpoint(config.webhookUrl, config.timeoutMs, {
      proxy: config.proxy,
      allowLinkLocal: config.allowLinkLocal,
    });
    this.#render = config.template === undefined ? undefined : compileTemplate(config.template);
  }

  /** The JSON posted for `event`: the template's rendering, else the built-in Block Kit message. */
  payload(event: CallEvent): unknown {
    const maskNumbers = this.#config.maskNumbers;
    if (this.#render === undefined) return slackMessage(event, { maskNumbers });
    const rendered = this.#render(maskNumbers ? maskEventNumbers(event) : event);
    // A plain string template is the message text.
    return typeof rendered === 'string' ? { text: rendered } : rendered;
  }

  async deliver(event: CallEvent, context: DeliveryContext): Promise<DeliveryReceipt> {
    const status = await this.#endpoint.send({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: JSON.stringify(this.payload(event)),
    });
    context.logger.debug({ eventId: event.id, httpStatus: status }, 'slack message posted');
    return { status };
  }

  close(): Promise<void> {
    return this.#endpoint.close();
  }
}

export const slackDestination: DestinationType<SlackConfig> = {
  timeoutMs: (config) => config.timeoutMs,
  defaultConcurrency: () => 1,
  defaultRateLimit: { max: 1, perMs: 1000 },
  create: (config) => new SlackDestination(config),
};
