/**
 * `${VAR}` and `${VAR:-default}` in config values, filled from the environment.
 *
 * Interpolation runs on the parsed YAML tree, string by string, so a value from the environment
 * can never change the structure of the file (no YAML injection through an env var).
 * `$${` writes a literal `${`.
 */
const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export type PathSegment = string | number;

export class MissingEnvError extends Error {
  constructor(
    readonly variable: string,
    readonly path: PathSegment[],
  ) {
    super(`environment variable ${variable} is not set (write \${${variable}:-default} to make it optional)`);
  }
}

export function interpolateString(text: string, env: NodeJS.ProcessEnv, path: PathSegment[] = []): string {
  if (!text.includes('${')) return text;
  return text.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const value = env[name as string];
    // Like the shell's `:-`: an empty variable counts as unset when a default is given.
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    throw new MissingEnvError(name as string, path);
  });
}

/** Returns a copy of `value` with every string interpolated. */
export function interpolateTree(value: unknown, env: NodeJS.ProcessEnv, path: PathSegment[] = []): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path);
  if (Array.isArray(value)) return value.map((item, index) => interpolateTree(item, env, [...path, index]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolateTree(item, env, [...path, key]);
    return out;
  }
  return value;
}

/** `destinations[2].url`: the notation people use to find a key in a YAML file. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out || '(top level)';
}
