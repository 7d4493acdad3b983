import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { parseDocument } from 'yaml';
import { formatPath, interpolateTree, type PathSegment } from './interpolate.ts';
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

  const { tree, problems: unfilled } = interpolateTree(document.toJS() ?? {}, env);
  const problems = unfilled.map((problem) => `${formatPath(problem.path)}: ${problem.message}`);
  const result = v.safeParse(ForwarderConfig, tree);
  if (!result.success) {
    // A key whose placeholder could not be filled is reported as such, not also as whatever its
    // text as written fails to be (a URL, say).
    const reported = new Set(unfilled.map((problem) => formatPath(problem.path)));
    for (const issue of result.issues)
      if (!reported.has(formatPath(pathOf(issue)))) problems.push(describeIssue(issue));
  }
  // Two checks of one key may say the same thing (a URL that is no URL, nor of the right scheme).
  if (problems.length > 0 || !result.success) throw new ConfigError(file, [...new Set(problems)]);
  return result.output;
}

function pathOf(issue: v.BaseIssue<unknown>): PathSegment[] {
  return (issue.path ?? []).map((item) => item.key as PathSegment);
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = pathOf(issue);
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    // A list where a mapping belongs passes as an object whose keys are 0, 1…
    if (Array.isArray(issue.path?.at(-1)?.input)) return expectedMapping(path.slice(0, -1), 'list');
    return `${formatPath(path)}: unknown key (check its spelling; README lists every key)`;
  }
  if (issue.received === 'undefined' && issue.type === 'strict_object') return `${formatPath(path)}: missing`;
  // `rateLimit: 20`: valibot would say "Expected Object"; say what the file should hold instead.
  if (issue.kind === 'schema' && (issue.type === 'strict_object' || issue.type === 'object'))
    return expectedMapping(path, describeType(issue.input));
  // `destinations: {name: crm, …}`: valibot would say "Expected Array".
  if (issue.kind === 'schema' && issue.type === 'array')
    return `${formatPath(path)}: expected a list (one item per line, each starting with "- ") but received a ${describeType(issue.input)}`;
  // valibot's own messages quote the value they got, which may be a secret: name its type instead.
  const message = issue.message.replace(/ but received .*$/, ` but received a ${describeType(issue.input)}`);
  if (issue.received === 'undefined') return `${formatPath(path)}: missing; ${message}`;
  return `${formatPath(path)}: ${message}`;
}

function expectedMapping(path: PathSegment[], received: string): string {
  return `${formatPath(path)}: expected a mapping of its keys ({key: value, …}; README lists them) but received a ${received}`;
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
