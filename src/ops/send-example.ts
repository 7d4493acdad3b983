import type { DestinationConfig } from '../config/index.ts';
import { destinationTypeOf } from '../destinations/registry.ts';
import { DeliveryError } from '../destinations/types.ts';
import { compileFilter } from '../fanout/filter.ts';
import type { CallEvent } from '../telecmi/index.ts';
import type { Logger } from './logger.ts';
import { StartupError } from './startup-error.ts';

/** How one destination took the example event. */
export interface ExampleOutcome {
  destination: string;
  delivered: boolean;
  ms: number;
  /** The HTTP status it answered with, for an HTTP-based destination. */
  status?: number;
  /** Why it failed, as a delivery's last error reads. */
  error?: string;
  /** Whether a delivery that failed so would be retried (or go dead at once). */
  retryable?: boolean;
  /** Its filter takes the event: a real one like it would be routed to it. */
  wanted: boolean;
  /** It could not be set up at all (its worker would not start): `error` says why. */
  notStarted?: boolean;
}

/**
 * Hands `event` to one destination directly, as its worker would (no queue, no retry), to find
 * out before going live whether it is reachable and accepts what it is sent.
 */
export async function sendExample(
  config: DestinationConfig,
  event: CallEvent,
  logger: Logger,
): Promise<ExampleOutcome> {
  const wanted = compileFilter(config.filter)(event);
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let destination: ReturnType<ReturnType<typeof destinationTypeOf>['create']>;
  try {
    destination = destinationTypeOf(config).create(config, logger);
  } catch (error) {
    // It would not start (an archive folder it cannot write): why, as its worker would say it.
    const message = error instanceof StartupError ? error.detail : (error as Error).message;
    return { destination: config.name, delivered: false, ms: ms(), error: message, notStarted: true, wanted };
  }
  try {
    const receipt = await destination.deliver(event, { attempt: 1, logger });
    return { destination: config.name, delivered: true, ms: ms(), status: receipt?.status, wanted };
  } catch (error) {
    return {
      destination: config.name,
      delivered: false,
      ms: ms(),
      error: (error as Error).message,
      retryable: !(error instanceof DeliveryError) || error.retryable,
      wanted,
    };
  } finally {
    await destination.close();
  }
}

/** One line per destination, names aligned. */
export function formatExampleOutcomes(outcomes: readonly ExampleOutcome[]): string {
  const width = Math.max(...outcomes.map((outcome) => outcome.destination.length));
  return outcomes
    .map((outcome) => {
      const what = outcome.delivered
        ? `delivered in ${outcome.ms} ms${outcome.status ? ` (HTTP ${outcome.status})` : ''}`
        : outcome.notStarted
          ? `would not start: ${outcome.error}`
          : `failed: ${outcome.error} (${outcome.retryable ? 'retryable: a delivery would be retried' : 'a refusal for good: a delivery would go dead at once'})`;
      const filter = outcome.wanted ? '' : '; its filter would not take this event';
      return `  ${outcome.destination.padEnd(width)}  ${what}${filter}`;
    })
    .join('\n');
}
