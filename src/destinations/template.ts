import type { CallEvent } from '../telecmi/index.ts';

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
