import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { parseDocument } from 'yaml';
import { formatPath, interpolateTree, MissingEnvError, type PathSegment } from './interpolate.ts';
import { ForwarderConfig } from './schema.ts';

export const DEFAULT_CONFIG_FILE = 'config/forwarder.yaml';

/** A mistake in the config file: its message is meant for a person, no stack trace needed. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid configuration\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function configFileFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.FORWARDER_CONFIG || DEFAULT_CONFIG_FILE;
}

export function loadConfig(
  file = configFileFromEnv(),
  env: NodeJS.ProcessEnv = process.env,
): ForwarderConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError(file, [`${reason} (set FORWARDER_CONFIG to the path of your config file)`]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): ForwarderConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((error) => {
        const at = error.linePos?.[0];
        const where = at ? `line ${at.line}, column ${at.col}` : 'YAML';
        return `${where}: ${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`;
      }),
    );
  }

  let tree: unknown;
  try {
    tree = interpolateTree(document.toJS() ?? {}, env);
  } catch (error) {
    if (error instanceof MissingEnvError)
      throw new ConfigError(file, [`${formatPath(error.path)}: ${error.message}`]);
    throw error;
  }

  const result = v.safeParse(ForwarderConfig, tree);
  // Two checks of one key may say the same thing (a URL that is no URL, nor of the right scheme).
  if (!result.success) throw new ConfigError(file, [...new Set(result.issues.map(describeIssue))]);
  return result.output;
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path: PathSegment[] = (issue.path ?? []).map((item) => item.key as PathSegment);
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    return `${formatPath(path)}: unknown key (check its spelling; README lists every key)`;
  }
  if (issue.received === 'undefined' && issue.type === 'strict_object') return `${formatPath(path)}: missing`;
  // valibot's own messages quote the value they got, which may be a secret: name its type instead.
  const message = issue.message.replace(/ but received .*$/, ` but received a ${describeType(issue.input)}`);
  if (issue.received === 'undefined') return `${formatPath(path)}: missing; ${message}`;
  return `${formatPath(path)}: ${message}`;
}

function describeType(value: unknown): string {
  return value === null
    ? 'null'
    : Array.isArray(value)
      ? 'list'
      : typeof value === 'object'
        ? 'mapping'
        : typeof value;
}
