import { CallEvent } from '../telecmi/index.ts';

/**
 * Renders body templates (syntax: `template-schema.ts`). `compileTemplate` walks the template once
 * and returns a function that builds the body for an event; destinations compile at start-up.
 */
export type CompiledTemplate = (event: CallEvent) => unknown;

/** `{{ path }}`: a dot path of field names, whitespace allowed inside the braces. */
const PLACEHOLDER = /\{\{\s*([^{}\s]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}\s]+)\s*\}\}$/;

export function compileTemplate(template: unknown): CompiledTemplate {
  if (typeof template === 'string') return compileString(template);
  if (Array.isArray(template)) {
    const items = template.map(compileTemplate);
    return (event) => items.map((item) => item(event));
  }
  if (isPlainObject(template)) {
    const entries = Object.entries(template).map(([key, value]) => [key, compileTemplate(value)] as const);
    return (event) => {
      const out: Record<string, unknown> = {};
      for (const [key, render] of entries) out[key] = render(event);
      return out;
    };
  }
  return () => template;
}

/** Renders `template` for one event (destinations compile once at start-up instead). */
export function renderTemplate(template: unknown, event: CallEvent): unknown {
  return compileTemplate(template)(event);
}

function compileString(text: string): CompiledTemplate {
  const whole = WHOLE.exec(text);
  if (whole?.[1] !== undefined) {
    const path = whole[1].split('.');
    return (event) => lookup(event, path) ?? null;
  }
  return compileText(text, asText);
}

/**
 * Text with placeholders, each replaced by `format` of its field's value (`undefined` when the
 * event has no such field); `placeholder` is the dot path as written, for error messages. Body
 * templates give a field's text; a URL gives it encoded (`http/url.ts`).
 */
export function compileText(
  text: string,
  format: (value: unknown, placeholder: string) => string,
): (event: CallEvent) => string {
  // Split into literal text (even indexes) and paths (odd indexes).
  const parts = text.split(PLACEHOLDER);
  if (parts.length === 1) return () => text;
  const paths = parts.map((part, index) => (index % 2 === 1 ? part.split('.') : null));
  return (event) => {
    let out = '';
    parts.forEach((part, index) => {
      const path = paths[index];
      out += path ? format(lookup(event, path), part) : part;
    });
    return out;
  };
}

/** The call-event fields a placeholder can name; below these three, any path (they are free-form). */
const FIELDS = Object.keys(CallEvent.entries);
const FREE_FORM = new Set(['raw', 'custom', 'extraParams']);
/** TeleCMI's names of fields the event renames: what a template is most likely to get wrong. */
const TELECMI_NAMES: Record<string, string> = {
  duration: 'answeredSec',
  cmiuuid: 'callId',
  conversation_uuid: 'conversationId',
  app_id: 'appId',
  virtual_number: 'virtualNumber',
  filename: 'recording',
  extra_params: 'extraParams',
};

/**
 * What is wrong with the placeholders of a template (any YAML value) or a header value or URL:
 * each names a field the event has not (a misspelt one renders as null or empty text, silently).
 */
export function placeholderProblems(template: unknown): string[] {
  const problems = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const [, path = ''] of value.matchAll(PLACEHOLDER)) {
        const [field = '', ...below] = path.split('.');
        if (!FIELDS.includes(field)) {
          const meant =
            (Object.hasOwn(TELECMI_NAMES, field) ? TELECMI_NAMES[field] : undefined) ??
            FIELDS.find((name) => name.toLowerCase() === field.toLowerCase());
          // The name without its braces: a header value is blanked whole where the config is shown.
          problems.add(
            `"${field}" names no call-event field${meant ? `: did you mean {{${meant}}}?` : ''} (fields: ${FIELDS.join(', ')}; {{raw.NAME}} for a field as TeleCMI sent it)`,
          );
        } else if (below.length > 0 && !FREE_FORM.has(field)) {
          problems.add(`"${path}": ${field} has no fields of its own (only raw, custom and extraParams do)`);
        }
      }
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (isPlainObject(value)) Object.values(value).forEach(visit);
  };
  visit(template);
  return [...problems];
}

/** Whether `text` names a field as `{{field}}`. */
export function hasPlaceholder(text: string): boolean {
  return new RegExp(PLACEHOLDER.source).test(text);
}

/** Own properties only: `{{constructor}}` must not reach into the prototype. */
function lookup(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A field's value as text: empty when missing, JSON for an object. */
export function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
