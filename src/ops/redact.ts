/**
 * A URL fit for a message or a log line: its password and any `token` query parameter hidden.
 * Undefined when the text is not a URL (callers then hide it whole).
 */
export function redactUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!url.password && !url.searchParams.has('token')) return text;
  if (url.password) url.password = '***';
  if (url.searchParams.has('token')) url.searchParams.set('token', '***');
  return url.toString();
}
