import { readdirSync, readFileSync } from 'node:fs';
import { type CallEvent, normalise, parseJsonBody } from '../../src/telecmi/index.ts';

/** The documented TeleCMI payloads (ground truth), in the shared folder beside the repository. */
export const SAMPLES_DIR = new URL('../../../shared/telecmi/samples/', import.meta.url);

/** Every sample's file name (`chub-cdr-incoming-answered.json`, ...), sorted. */
export function listSamples(): string[] {
  return readdirSync(SAMPLES_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();
}

function fileName(name: string): string {
  return name.endsWith('.json') ? name : `${name}.json`;
}

/** A sample's text, exactly as stored (for a request body). The `.json` suffix is optional. */
export function loadSampleText(name: string): string {
  return readFileSync(new URL(fileName(name), SAMPLES_DIR), 'utf8');
}

/** A sample's fields, parsed as the receiver parses a JSON body. The `.json` suffix is optional. */
export function loadSample(name: string): Record<string, unknown> {
  return parseJsonBody(loadSampleText(name)) as Record<string, unknown>;
}

/**
 * A sample as the canonical event the receiver makes of it. `fields` replace the sample's (a fresh
 * `cmiuuid` makes another call); `receivedAt` defaults to now.
 */
export function sampleEvent(
  name: string,
  options: { fields?: Record<string, unknown>; receivedAt?: Date } = {},
): CallEvent {
  const result = normalise({ ...loadSample(name), ...options.fields }, options.receivedAt ?? new Date());
  if (!result.ok) throw new Error(`${name}: ${result.error}`);
  return result.event;
}
