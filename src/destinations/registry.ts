import type { DestinationConfig, DestinationConfigOf } from '../config/index.ts';
import { fileDestination } from './file/index.ts';
import { httpDestination } from './http/index.ts';
import { postgresDestination } from './postgres/index.ts';
import { slackDestination } from './slack/index.ts';
import type { DestinationType } from './types.ts';

/** Every destination type, by the `type` key of its config. */
const destinationTypes: {
  [TType in DestinationConfig['type']]: DestinationType<DestinationConfigOf<TType>>;
} = {
  http: httpDestination,
  slack: slackDestination,
  postgres: postgresDestination,
  file: fileDestination,
};

export function destinationTypeOf(config: DestinationConfig): DestinationType<DestinationConfig> {
  // Safe: the table above is keyed by the very `type` the config carries.
  return destinationTypes[config.type] as DestinationType<DestinationConfig>;
}
