/**
 * What the operator commands (`npm run replay`, `trace`, `backfill`) share: one line on stderr and
 * an exit code for a mistake (2: usage or config; 1: Redis out of reach), flags checked the same way.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { ConfigError, type ForwarderConfig, loadConfig } from '../src/config/index.ts';
import { exitOnHelp } from '../src/ops/main.ts';
import { assertRedisReachable, producerConnection, RedisUnreachableError } from '../src/queue/redis.ts';

export function fail(tool: string, message: string, code = 2): never {
  process.stderr.write(`${tool}: ${message}\n`);
  process.exit(code);
}

/**
 * The command's flags; an unknown or malformed one stops it with the message and `usage`, `--help`
 * prints `usage`.
 */
export function flagsOrFail<const T extends NonNullable<ParseArgsConfig['options']>>(
  tool: string,
  options: T,
  usage: string,
) {
  exitOnHelp(`usage: ${usage}`);
  try {
    return parseArgs({ options }).values;
  } catch (error) {
    return fail(tool, `${(error as Error).message}\nusage: ${usage}`);
  }
}

/** The config (FORWARDER_CONFIG), or the command stops with its error. */
export function configOrFail(tool: string): ForwarderConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(tool, error.message);
    throw error;
  }
}

/** A connection to the config's Redis, once it answers; the command stops when it does not. */
export async function connectOrFail(tool: string, config: ForwarderConfig): Promise<Redis> {
  try {
    await assertRedisReachable(config.redis.url);
  } catch (error) {
    if (error instanceof RedisUnreachableError) fail(tool, error.message, 1);
    throw error;
  }
  // Commands wait for the connection to be ready (a producer's fail at once while it is not).
  return producerConnection(config.redis.url, { enableOfflineQueue: true });
}

/** `--destination`: required, and one of the config's. */
export function destinationOrFail(tool: string, config: ForwarderConfig, name: string | undefined): string {
  const names = config.destinations.map((destination) => destination.name);
  if (!name) fail(tool, `--destination is required; one of: ${names.join(', ') || '(none configured)'}`);
  if (!names.includes(name)) fail(tool, `unknown destination "${name}"; one of: ${names.join(', ')}`);
  return name;
}

/** An ISO 8601 time flag (`--since`, `--until`), or undefined when absent. */
export function timeOrFail(tool: string, flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const value = new Date(text);
  if (Number.isNaN(value.getTime()))
    fail(tool, `${flag}: expected an ISO 8601 time such as 2026-11-24T08:00:00Z; got "${text}"`);
  return value;
}

/** "1 delivery", "10 deliveries". */
export function counted(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}
