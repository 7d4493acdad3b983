import type { IRedisTransaction, Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';

/** BullMQ's script for adding a job such as ours (no delay, no priority, no parent). */
const BULLMQ_ADD_SCRIPT = 'addStandardJob';

/** An ioredis MULTI or pipeline that BullMQ can add jobs to (`job.addJob(it)`). */
export type JobWrites = ChainableCommander & IRedisTransaction;

/**
 * A Redis connection of our own for adding BullMQ jobs on the hot paths (the receiver's writes, the
 * fan-out's), instead of the queues' connection.
 *
 * Why: an ioredis MULTI or pipeline copies every script defined on its connection into itself, and
 * BullMQ defines some seventy on a queue's connection. This one holds only the scripts that run on
 * it: BullMQ's add, copied from a queue's connection as BullMQ defined it there (so it always
 * matches the installed version), and the caller's own. Measured on the receiver (bench:receiver,
 * six pairs of runs): durable/bare 0.671-0.764 against 0.598-0.670 through the queue's connection,
 * higher in every pair; on the fan-out, one pipeline for every destination instead of an `addBulk`
 * each (bench:delivery, three pairs): pipeline/BullMQ alone 0.467-0.571 against 0.382-0.500.
 */
export class JobWriteConnection {
  readonly redis: Redis;
  readonly #source: Queue;
  #copied: Promise<void> | undefined;

  /** `source`: any queue on a connection BullMQ has set up; `redis`: the connection to write on. */
  constructor(source: Queue, redis: Redis) {
    this.#source = source;
    this.redis = redis;
    // Started now; should it fail, the first write reports it and the next one tries again.
    this.ready().catch(() => {});
  }

  /** Resolves once BullMQ's add script is defined on this connection. */
  ready(): Promise<void> {
    this.#copied ??= this.#copyAddScript().catch((error: unknown) => {
      this.#copied = undefined;
      throw error;
    });
    return this.#copied;
  }

  /** A MULTI (all or nothing) to add jobs to, among the caller's own commands. */
  multi(): JobWrites {
    return withRunCommand(this.redis.multi());
  }

  /** A pipeline (one round trip, each command on its own) to add jobs to. */
  pipeline(): JobWrites {
    return withRunCommand(this.redis.pipeline());
  }

  async #copyAddScript(): Promise<void> {
    await this.#source.waitUntilReady();
    const queueConnection = (await this.#source.getBackend().client) as unknown as Redis;
    const scripts = queueConnection.scriptsSet as Record<string, { lua: string; numberOfKeys: number }>;
    // BullMQ names its scripts with its version: `addStandardJob:6.7.0`.
    const found = Object.entries(scripts).find(([name]) => name.split(':')[0] === BULLMQ_ADD_SCRIPT);
    if (!found)
      throw new Error(`BullMQ defined no ${BULLMQ_ADD_SCRIPT} script: this bullmq version is not supported`);
    const [name, { lua, numberOfKeys }] = found;
    this.redis.defineCommand(name, { lua, numberOfKeys });
  }
}

/**
 * As BullMQ's own transactions do: its scripts are run by name. Only the add is defined on our
 * connection, so BullMQ running another fails the write, never passes unnoticed.
 */
function withRunCommand(commander: ChainableCommander): JobWrites {
  const writes = commander as JobWrites;
  writes.runCommand = (name, args) => {
    const command = (writes as unknown as Record<string, ((args: unknown[]) => void) | undefined>)[name];
    if (typeof command !== 'function') throw new Error(`BullMQ ran ${name}, not defined for these writes`);
    command.call(writes, args);
    return writes;
  };
  return writes;
}
