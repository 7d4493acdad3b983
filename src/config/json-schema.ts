import { type JsonSchema, toJsonSchema } from '@valibot/to-json-schema';
import { ForwarderConfig } from './schema.ts';

/**
 * `config/forwarder.schema.json`, generated from the valibot schema (`npm run config:schema`), so
 * editors complete and check the YAML config (`# yaml-language-server: $schema=...`).
 *
 * JSON Schema describes the file as written, before `${ENV}` is filled in, so on top of the plain
 * conversion:
 * - whole numbers and booleans also accept their text forms, and every constrained value (a URL, a
 *   pattern, a number, an enum) also accepts a string containing `${`;
 * - defaults computed from the environment at run time (`$REDIS_URL`, `$PORT`) are left out, so
 *   the output is the same on every machine.
 * Descriptions come from the schema itself (`v.description`).
 * Checks valibot cannot express in JSON Schema (CIDR blocks, unique names, URL schemes) are left
 * to `npm run config:check`.
 */

export const CONFIG_JSON_SCHEMA_FILE = 'config/forwarder.schema.json';

/** A string that will be filled in from the environment, defined once in `definitions`. */
const FROM_ENV_DEFINITION: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{',
  description: 'A value from the environment: ${VAR} or ${VAR:-default}.',
};
const FROM_ENV: Node = { $ref: '#/definitions/fromEnvironment' };

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The JSON Schema of the config file, as committed in `config/forwarder.schema.json`. */
export function configJsonSchema(): JsonSchema {
  const generated = toJsonSchema(ForwarderConfig, {
    // The file holds the input: stop each pipe before its transform (`''` -> no token...).
    typeMode: 'input',
    // Custom checks and transforms have no JSON Schema equivalent; valibot still runs them.
    errorMode: 'ignore',
    overrideAction({ valibotAction, jsonSchema }) {
      // JSON Schema patterns have no flags: spell out `/i` for the letter ranges our patterns use.
      const requirement: unknown = 'requirement' in valibotAction ? valibotAction.requirement : undefined;
      if (
        valibotAction.type === 'regex' &&
        requirement instanceof RegExp &&
        requirement.flags.includes('i')
      ) {
        return { ...jsonSchema, pattern: requirement.source.replaceAll('a-z', 'a-zA-Z') };
      }
      return undefined;
    },
    overrideSchema({ valibotSchema, jsonSchema }) {
      // A default computed at run time (from the environment) would make the file machine-specific.
      if ('default' in valibotSchema && typeof valibotSchema.default === 'function') {
        const { default: _computed, ...rest } = jsonSchema;
        return rest;
      }
      return undefined;
    },
  }) as Node;
  const { $schema, ...body } = generated;
  const root: Node = { $schema, title: 'cdr-forwarder configuration', ...body };
  return {
    ...acceptEnvironment(root),
    definitions: { fromEnvironment: FROM_ENV_DEFINITION },
  } as JsonSchema;
}

/** The text of `config/forwarder.schema.json`. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

const ANNOTATIONS = ['title', 'description', 'default', 'examples'];
const NUMERIC = ['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];

function isScalar(node: Node): boolean {
  if (node.$ref === FROM_ENV.$ref) return true;
  if (Array.isArray(node.anyOf)) return node.anyOf.every((branch) => isNode(branch) && isScalar(branch));
  return ['string', 'number', 'integer', 'boolean'].includes(node.type as string) || 'enum' in node;
}

/** A scalar whose value a string such as `${PORT}` could not satisfy as it stands. */
function isConstrainedScalar(node: Node): boolean {
  // `${VAR}` has a length, so minLength alone does not count.
  if (node.type === 'string') return ['pattern', 'format', 'enum'].some((k) => k in node);
  return isScalar(node) && !('const' in node);
}

/** Rewrites the schema for the file as written: see the comment at the top. */
function acceptEnvironment(node: Node): Node {
  const out: Node = { ...node };
  if (isNode(out.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([key, child]) => [
        key,
        isNode(child) ? acceptEnvironment(child) : child,
      ]),
    );
  }
  if (isNode(out.items)) out.items = acceptEnvironment(out.items);
  if (isNode(out.additionalProperties))
    out.additionalProperties = acceptEnvironment(out.additionalProperties);
  for (const key of ['oneOf', 'allOf'] as const) {
    if (Array.isArray(out[key])) out[key] = (out[key] as Node[]).map(acceptEnvironment);
  }

  if (Array.isArray(out.anyOf)) {
    // valibot's `integer()` is a union (number | numeric text) with the integer, minimum and maximum
    // on the union: JSON Schema needs them on the number branch, or the text branch never matches.
    const numeric = Object.fromEntries(
      NUMERIC.filter((k) => k in out && !(k === 'maximum' && Number(out[k]) >= Number.MAX_SAFE_INTEGER)).map(
        (k) => [k, out[k]],
      ),
    );
    for (const k of NUMERIC) delete out[k];
    const branches = (out.anyOf as Node[]).flatMap((branch) => {
      const fixed = acceptEnvironment(branch);
      // Nested unions (trustProxy: boolean | integer) become one flat list.
      const nested =
        Array.isArray(fixed.anyOf) &&
        Object.keys(fixed).every((k) => k === 'anyOf' || ANNOTATIONS.includes(k));
      return nested ? (fixed.anyOf as Node[]) : [fixed];
    });
    out.anyOf = branches
      .map((branch) =>
        branch.type === 'number' && Object.keys(numeric).length > 0 ? { ...branch, ...numeric } : branch,
      )
      .filter((branch) => JSON.stringify(branch) !== JSON.stringify(FROM_ENV));
    if (isScalar(out)) (out.anyOf as Node[]).push(FROM_ENV);
    return out;
  }

  if (isConstrainedScalar(out)) {
    const annotations = Object.fromEntries(ANNOTATIONS.filter((k) => k in out).map((k) => [k, out[k]]));
    const value = Object.fromEntries(Object.entries(out).filter(([k]) => !ANNOTATIONS.includes(k)));
    return { anyOf: [value, FROM_ENV], ...annotations };
  }
  return out;
}
