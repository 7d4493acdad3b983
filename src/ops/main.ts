import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError, configFileFromEnv, type ForwarderConfig, loadConfig } from '../config/index.ts';
import { assertRedisReachable, RedisUnreachableError, redisDurabilityWarnings } from '../queue/redis.ts';
import { createLogger, type Logger, LogLevelError } from './logger.ts';
import { StartupError } from './startup-error.ts';

/** A mistake in how the process was started (flags): printed as one line, exit code 2. */
export class UsageError extends Error {}

/**
 * `--help` or `-h` among the flags (before a `--`): prints `usage` and exits 0. Checked before the
 * flags are parsed, so that asking for help is never answered as an unknown option.
 */
export function exitOnHelp(usage: string, args: string[] = process.argv.slice(2)): void {
  const end = args.indexOf('--');
  if ((end < 0 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
}

/**
 * The process's flags, as `options` names them; an unknown or malformed one is a usage mistake
 * (thrown as a {@link UsageError} that ends with `usage`).
 */
export function readFlags<const T extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: T,
) {
  try {
    return parseArgs({ options }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
}

export interface Service {
  close(): Promise<void>;
}

/** How long a shutdown may take before the process exits anyway (in-flight work is then retried). */
const SHUTDOWN_DEADLINE_MS = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 30_000);

/**
 * The life of a process: load the config, read the flags against it, check Redis, start the
 * services, and on SIGTERM/SIGINT close them in reverse order and exit 0. A mistake a person must
 * fix (config, flags, Redis URL) is printed as one message, without a stack trace, and the process
 * exits non-zero. The flags are read before anything is logged, so that a usage mistake is the only
 * line printed.
 */
export async function runMain<Args = undefined>(
  name: string,
  start: (config: ForwarderConfig, logger: Logger, args: Args) => Promise<Service[]>,
  readArgs?: (config: ForwarderConfig) => Args,
): Promise<void> {
  let logger: Logger;
  try {
    logger = createLogger({ process: name });
  } catch (error) {
    if (!(error instanceof LogLevelError)) throw error;
    process.stderr.write(`cdr-forwarder: ${error.message}\n`);
    process.exit(2);
  }
  let services: Service[];
  try {
    const file = configFileFromEnv();
    const config = loadConfig(file);
    const args = readArgs?.(config) as Args;
    // Phone numbers are masked in log lines unless the config says otherwise.
    if (config.logging.showNumbers) logger = createLogger({ process: name }, { showNumbers: true });
    await assertRedisReachable(config.redis.url);
    // Which file and which Redis: `PORT` and `REDIS_URL` apply only where the file is silent. (The
    // logger hides the URL's password.)
    logger.info(
      { config: file, redis: { url: config.redis.url, prefix: config.redis.prefix } },
      'config loaded',
    );
    services = await start(config, logger, args);
    for (const { setting, value, message } of await redisDurabilityWarnings(config.redis.url))
      logger.warn({ setting, value }, message);
  } catch (error) {
    if (
      error instanceof ConfigError ||
      error instanceof RedisUnreachableError ||
      error instanceof UsageError ||
      error instanceof StartupError
    ) {
      process.stderr.write(`cdr-forwarder: ${error.message}\n`);
      process.exit(error instanceof ConfigError || error instanceof UsageError ? 2 : 1);
    }
    logger.fatal({ err: error }, 'start-up failed');
    exitAfterFlush(logger, 1);
    return;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline passed; exiting');
      exitAfterFlush(logger, 1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    for (const service of [...services].reverse()) {
      await service.close().catch((error) => logger.error({ err: error }, 'error during shutdown'));
    }
    logger.info('stopped');
    exitAfterFlush(logger, 0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Log lines are written asynchronously: let the last ones out before the process ends. */
function exitAfterFlush(logger: Logger, code: number): void {
  logger.flush(() => process.exit(code));
  // Should stdout be stuck (a closed pipe), exit anyway.
  setTimeout(() => process.exit(code), 2_000).unref();
}
