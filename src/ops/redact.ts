/**
 * Query parameters whose values are shown: everything else may be a key (`?token=`, `?api_key=`,
 * ioredis's `?password=`).
 */
export const HARMLESS_QUERY: ReadonlySet<string> = new Set([
  'sslmode',
  'application_name',
  'connect_timeout',
  'db',
  'family',
]);

/**
 * A URL fit for a message or a log line: its password replaced by `***` and the values of its query
 * parameters (but harmless ones) by `queryMask`. Undefined when the text is not a URL (callers then
 * hide it whole).
 */
export function redactUrl(text: string, queryMask = '***'): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const secretKeys = [...url.searchParams.keys()].filter((key) => !HARMLESS_QUERY.has(key));
  if (!url.password && secretKeys.length === 0) return text;
  if (url.password) url.password = '***';
  for (const key of secretKeys) url.searchParams.set(key, queryMask);
  return url.toString();
}
