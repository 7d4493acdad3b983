import type { Context } from 'hono';
import { JsonTooDeepError, parseJsonBody } from '../telecmi/index.ts';

export type Fields = Record<string, unknown>;

export type FieldsResult =
  | { ok: true; fields: Fields }
  | { ok: false; status: 400 | 415 | 422; error: string };

/** The query-string key that carries the webhook secret; never kept with the notification. */
const TOKEN_KEY = 'token';

/**
 * The notification's fields, however TeleCMI sent them: a GET query string, a JSON body or a
 * form-encoded body (the customer picks GET or POST in the dashboard).
 */
export async function readFields(c: Context): Promise<FieldsResult> {
  if (c.req.method === 'GET') return { ok: true, fields: fromSearchParams(new URL(c.req.url).searchParams) };

  const text = await c.req.text();
  const contentType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (contentType === 'application/x-www-form-urlencoded') {
    return { ok: true, fields: fromSearchParams(new URLSearchParams(text)) };
  }
  const looksLikeJson = contentType === '' || contentType === 'text/plain';
  if (!contentType.endsWith('json') && !(looksLikeJson && text.trimStart().startsWith('{'))) {
    if (looksLikeJson && text.trim() === '') return emptyBody();
    return {
      ok: false,
      status: 415,
      error: `unsupported content type "${contentType}": send application/json or application/x-www-form-urlencoded`,
    };
  }
  if (text.trim() === '') return emptyBody();

  let body: unknown;
  try {
    body = parseJsonBody(text);
  } catch (error) {
    if (error instanceof JsonTooDeepError) return { ok: false, status: 422, error: error.message };
    return { ok: false, status: 400, error: `malformed JSON: ${(error as Error).message}` };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    return { ok: false, status: 422, error: `expected a single JSON object, got ${got}` };
  }
  return { ok: true, fields: body as Fields };
}

function fromSearchParams(params: URLSearchParams): Fields {
  const fields: Fields = {};
  for (const [key, value] of params) if (key !== TOKEN_KEY) fields[key] = value;
  return fields;
}

function emptyBody(): FieldsResult {
  return { ok: false, status: 400, error: 'empty body: expected a JSON object or form fields' };
}
