/**
 * `${VAR}` and `${VAR:-default}` in config values, filled from the environment.
 *
 * Interpolation runs on the parsed YAML tree, string by string, so a value from the environment
 * can never change the structure of the file (no YAML injection through an env var).
 * `$${` writes a literal `${`.
 */
const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

export type PathSegment = string | number;

/** A `${...}` that cannot be filled: its variable is not set, or it is not a placeholder at all. */
export class PlaceholderError extends Error {
  constructor(
    message: string,
    readonly path: PathSegment[],
  ) {
    super(message);
  }
}

class MissingEnvError extends PlaceholderError {
  constructor(
    readonly variable: string,
    path: PathSegment[],
  ) {
    super(
      `environment variable ${variable} is not set (write \${${variable}:-default} to make it optional)`,
      path,
    );
  }
}

/** Fills one string; throws the first placeholder that cannot be filled. */
export function interpolateString(text: string, env: NodeJS.ProcessEnv, path: PathSegment[] = []): string {
  const problems: PlaceholderError[] = [];
  const filled = fill(text, env, path, problems);
  if (problems[0]) throw problems[0];
  return filled;
}

/**
 * A copy of `value` with every string interpolated, and every placeholder that could not be filled
 * (all of them, so that one run names every variable to set). Such a string is left as written.
 */
export function interpolateTree(
  value: unknown,
  env: NodeJS.ProcessEnv,
): { tree: unknown; problems: PlaceholderError[] } {
  const problems: PlaceholderError[] = [];
  const walk = (item: unknown, path: PathSegment[]): unknown => {
    if (typeof item === 'string') {
      const before = problems.length;
      const filled = fill(item, env, path, problems);
      return problems.length > before ? item : filled;
    }
    if (Array.isArray(item)) return item.map((child, index) => walk(child, [...path, index]));
    if (item !== null && typeof item === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(item)) out[key] = walk(child, [...path, key]);
      return out;
    }
    return item;
  };
  return { tree: walk(value, []), problems };
}

/** `text` with its placeholders filled; each one that cannot be is added to `problems`. */
function fill(text: string, env: NodeJS.ProcessEnv, path: PathSegment[], problems: PlaceholderError[]) {
  if (!text.includes('${')) return text;
  return text.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    // Neither `$${` nor a whole placeholder: `${TOKEN` without its brace, or `${1ST}`. Taken
    // literally it would reach a destination as text, so it is refused.
    if (name === undefined) {
      problems.push(
        new PlaceholderError(
          'a "${" that is not a placeholder: write ${NAME} or ${NAME:-default} (NAME: letters, digits, "_"), or $${ for a literal ${',
          path,
        ),
      );
      return match;
    }
    const value = env[name];
    // Like the shell's `:-`: an empty variable counts as unset when a default is given.
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    problems.push(new MissingEnvError(name, path));
    return match;
  });
}

/** `destinations[2].url`: the notation people use to find a key in a YAML file. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out || '(top level)';
}
