import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CONFIG_JSON_SCHEMA_FILE,
  configJsonSchema,
  configJsonSchemaText,
} from '../../src/config/json-schema.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'config-tools-'));

/** `npm run config:check [file]`, in a clean environment plus `env`. */
/** `file`: the command's argument, or several. */
function configCheck(file: string | string[] | undefined, env: Record<string, string> = {}) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'scripts/config-check.ts', ...(file === undefined ? [] : [file].flat())],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    },
  );
  return {
    code: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    all: result.stdout + result.stderr,
  };
}

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const exampleEnv = {
  WEBHOOK_TOKEN: 'tok-EXAMPLE-0123456789abcdef',
  CRM_URL: 'https://crm.example.com/hooks/telecmi?apikey=CRMQUERYSECRET',
  CRM_API_KEY: 'CRMHEADERSECRET',
  CRM_SIGNING_SECRET: 'whsec_QkFTRTY0U0lHTklOR1NFQ1JFVA==',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/SLACKPATHSECRET',
  DATABASE_URL: 'postgres://warehouse:PGURLSECRET@db.example.com:5432/calls?sslmode=require',
};

describe('npm run config:check', () => {
  it('checks the shipped config: the receiver and each destination, exit 0', () => {
    const { code, stdout, stderr } = configCheck('config/forwarder.yaml');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('config/forwarder.yaml: valid');
    expect(stdout).toContain('receiver: 0.0.0.0:3000/webhook/cdr, token set: no');
    expect(stdout).toContain(
      'retention: delivered deliveries 7 days (at most 100,000 per destination), ingest jobs 24 h (at most 10,000); dead letters kept',
    );
    expect(stdout).toContain(
      '  - archive (file) → ./data/archive; filter: everything; 16 attempts, exponential from 5 s up to 6 h, concurrency 1000',
    );
  });

  it('reads FORWARDER_CONFIG when no file is given', () => {
    const { code, stdout } = configCheck(undefined, {
      FORWARDER_CONFIG: 'config/docker.yaml',
      POSTGRES_PASSWORD: 'x',
    });
    expect(code).toBe(0);
    expect(stdout).toContain('config/docker.yaml: valid');
    expect(stdout).toContain('  - warehouse (postgres) → postgres://postgres:***@postgres:5432/postgres');
  });

  it('describes every destination of the example, without a secret', () => {
    const { code, stdout, all } = configCheck('config/examples/crm-slack-warehouse.yaml', exampleEnv);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines).toContain('receiver: 0.0.0.0:3000/webhook/cdr, token set: yes');
    expect(lines).toContain(
      '  - crm (http) → https://crm.example.com/hooks/telecmi?apikey=… (POST, headers Authorization, signed, template); ' +
        'filter: cdr; 16 attempts, exponential from 5 s up to 6 h, rate limit 20/1 s, ' +
        'circuit breaker: 10 failures in a row hold it 1 min, concurrency 10',
    );
    expect(lines).toContain(
      '  - missed-calls (slack) → hooks.slack.com/…; filter: cdr, status missed, direction inbound, not (leg b); ' +
        '16 attempts, exponential from 5 s up to 6 h, rate limit 1/1 s, concurrency 1',
    );
    expect(lines).toContain(
      '  - warehouse (postgres) → postgres://warehouse:***@db.example.com:5432/calls?sslmode=require table telecmi_call_events; ' +
        'filter: everything; 16 attempts, exponential from 5 s up to 6 h, concurrency 2000',
    );
    expect(stdout).toContain('  - archive (file) → ./data/archive; filter: everything;');
    for (const secret of [
      'tok-EXAMPLE',
      'CRMQUERYSECRET',
      'CRMHEADERSECRET',
      'QkFTRTY0',
      'SLACKPATHSECRET',
      'PGURLSECRET',
    ]) {
      expect(all).not.toContain(secret);
    }
  });

  it('prints filters and retry policies in words', () => {
    const file = writeConfig(
      'policies.yaml',
      `destinations:
  - name: a
    type: file
    path: /tmp/a
    filter: {kind: [cdr, event], status: [missed, answered], team: Sales, minAnsweredSec: 10}
    retry: {attempts: 5, backoff: fixed, delayMs: 90000}
    concurrency: 3
    rateLimit: {max: 100, perMs: 60000}
    circuitBreaker: {failures: 5}
  - {name: b, type: file, path: /tmp/b, retry: {attempts: 1}}
`,
    );
    const { code, stdout } = configCheck(file);
    expect(code).toBe(0);
    expect(stdout).toContain(
      '  - a (file) → /tmp/a; filter: cdr or event, status missed or answered, team Sales, answered 10 s or more; ' +
        '5 attempts, fixed 90 s, rate limit 100/1 min, circuit breaker: 5 failures in a row hold it 30 s, concurrency 3',
    );
    expect(stdout).toContain(
      '  - b (file) → /tmp/b; filter: everything; 1 attempt (no retry), concurrency 1000',
    );
  });

  it('warns about what a valid config may still get wrong, and exits 0', () => {
    const file = writeConfig(
      'warnings.yaml',
      `destinations:
  - {name: public, type: http, url: "http://crm.example.com/hook"}
  - {name: internal, type: http, url: "http://crm:8080/hook"}
  - {name: private, type: http, url: "http://10.0.0.5/hook", retry: {attempts: 1}}
  - {name: secure, type: http, url: "https://crm.example.com/hook", headers: {Authorization: "Bearer $CRM_API_KEY"}}
`,
    );
    const { code, stdout } = configCheck(file);
    expect(code).toBe(0);
    expect(stdout.split('\n').slice(stdout.split('\n').indexOf('warnings: 4'))).toEqual([
      'warnings: 4',
      '  ! receiver: no token and no allowIps: anyone who finds the URL can send call records; set receiver.token (README: Authentication)',
      '  ! public: sends call records, phone numbers included, over plain http:// across the network; use https://',
      '  ! private: retry.attempts is 1: a delivery that fails once is dead at once (npm run replay sends it again)',
      '  ! destinations[3].headers.Authorization: a "$" followed by a name is sent as it is: an environment variable is written ${NAME} (ignore this if the "$" belongs to the value)',
      '',
    ]);
    expect(stdout).not.toContain('CRM_API_KEY');
    const quiet = writeConfig(
      'quiet.yaml',
      'receiver: {token: a-token-of-16-chars-or-more}\ndestinations:\n  - {name: a, type: file, path: /tmp/a}\n',
    );
    expect(configCheck(quiet).stdout).not.toContain('warnings');
  });

  it('never prints a token, secret or password of a valid file', () => {
    const file = writeConfig(
      'secrets.yaml',
      `redis: {url: "redis://:REDISPASSWORD1@redis.example.com:6379"}
receiver: {token: TOKENTOKENTOKEN-SECRET-1}
admin: {password: ADMINPASSWORD1}
destinations:
  - name: crm
    type: http
    url: "https://user:HTTPPASSWORD1@crm.example.com/api/hooks/AbCdEf0123456789XyZ?token=QUERYTOKEN1&x=1"
    headers: {Authorization: "Bearer HEADERTOKEN1", X-Api-Key: APIKEY1}
    signingSecret: whsec_U0lHTklOR1NFQ1JFVDE=
  - {name: chat, type: slack, webhookUrl: "https://hooks.slack.com/services/T1/B1/SLACKSECRET1"}
  - {name: relay, type: slack, webhookUrl: "http://127.0.0.1:3902/services/T2/B2/RELAYSECRET1"}
  - {name: dw, type: postgres, url: "postgresql://u:PG%40PASSWORD1@db:5432/x?password=PGQUERY1"}
`,
    );
    const { code, stdout, all } = configCheck(file);
    expect(code).toBe(0);
    expect(stdout).toContain('token set: yes');
    expect(stdout).toContain('redis: redis://:***@redis.example.com:6379');
    // A short value (`x=1`) is not blanked: it would be blanked everywhere in the output.
    expect(stdout).toContain(
      '  - crm (http) → https://user:***@crm.example.com/api/hooks/…?token=…&x=… (POST, headers Authorization, X-Api-Key, signed); ' +
        'filter: everything; 16 attempts, exponential from 5 s up to 6 h, concurrency 10',
    );
    expect(stdout).toContain('  - chat (slack) → hooks.slack.com/…;');
    // Any Slack webhook's path is its secret, wherever it is (a relay, a test server).
    expect(stdout).toContain('  - relay (slack) → http://127.0.0.1:3902/…;');
    for (const secret of [
      'REDISPASSWORD1',
      'TOKENTOKENTOKEN',
      'ADMINPASSWORD1',
      'HTTPPASSWORD1',
      'AbCdEf0123456789XyZ',
      'QUERYTOKEN1',
      'HEADERTOKEN1',
      'APIKEY1',
      'U0lHTklOR1NFQ1JFVDE',
      'SLACKSECRET1',
      'RELAYSECRET1',
      'PASSWORD1',
      'PGQUERY1',
    ]) {
      expect(all).not.toContain(secret);
    }
  });

  it('on a broken file prints the key paths, no stack trace, no secret, and exits 2', () => {
    const file = writeConfig(
      'broken.yaml',
      `receiver:
  port: 99999
  token: 1234567890123456
admin: {password: 987654321987}
destinations:
  - {name: crm, type: http, url: "ftp://u:FTPPASSWORD1@x/", headers: {Authorization: 4242424242}}
  - {name: dw, type: postgres, url: "postgres://u:PGPASSWORD2@db/x", colour: blue}
`,
    );
    const { code, stdout, stderr, all } = configCheck(file);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`${file}: invalid configuration`);
    expect(stderr).toContain('  - receiver.port: expected a whole number from 0 to 65535');
    expect(stderr).toContain('  - destinations[0].url: expected a URL starting with http:// or https://');
    expect(stderr).toContain('destinations[1].colour: unknown key');
    expect(stderr).not.toMatch(/^\s+at /m);
    for (const secret of ['1234567890123456', '987654321987', 'FTPPASSWORD1', '4242424242', 'PGPASSWORD2']) {
      expect(all).not.toContain(secret);
    }
  });

  it("names the file in full even where a secret's text is part of its path", () => {
    const folder = join(dir, 'tokenvalue1234567');
    mkdirSync(folder);
    const broken = writeConfig(
      'tokenvalue1234567/broken.yaml',
      'receiver: {token: tokenvalue1234567, port: x}\n',
    );
    expect(configCheck(broken).stderr).toBe(
      `cdr-forwarder: ${broken}: invalid configuration\n  - receiver.port: expected a whole number from 0 to 65535\n`,
    );
    const valid = writeConfig('tokenvalue1234567/valid.yaml', 'receiver: {token: tokenvalue1234567}\n');
    expect(configCheck(valid).stdout.split('\n')[0]).toBe(`${valid}: valid`);
  });

  it('answers --help with its usage, exit 0', () => {
    const { code, stdout, stderr } = configCheck('--help');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^usage: npm run config:check/);
  });

  it('stops at a flag it does not know or a second file, with the usage, exit 2', () => {
    const usage =
      'usage: npm run config:check [-- FILE]   (default: $FORWARDER_CONFIG, else config/forwarder.yaml)';
    const flag = configCheck('--bogus');
    expect({ code: flag.code, stdout: flag.stdout }).toEqual({ code: 2, stdout: '' });
    expect(flag.stderr).toMatch(/^config:check: Unknown option '--bogus'/);
    expect(flag.stderr.trim().split('\n').at(-1)).toBe(usage);
    const two = configCheck(['config/forwarder.yaml', 'config/forwarder.yaml']);
    expect(two).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `config:check: one file at most; got 2\n${usage}\n`,
    });
  });

  it('reports a missing file and a YAML syntax error the same way', () => {
    expect(configCheck('config/nope.yaml')).toMatchObject({ code: 2, stdout: '' });
    expect(configCheck('config/nope.yaml').stderr).toContain(
      'config/nope.yaml: invalid configuration\n  - file not found',
    );
    const bad = configCheck(writeConfig('syntax.yaml', 'receiver:\n  port: [3000\n'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line \d+, column \d+/);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('config/forwarder.schema.json', () => {
  const committed = readFileSync(`${root}${CONFIG_JSON_SCHEMA_FILE}`, 'utf8');

  it('is what `npm run config:schema` generates from the valibot schema now', () => {
    // Fails after a change to src/config/schema.ts: run `npm run config:schema` and commit the file.
    expect(committed).toBe(configJsonSchemaText());
  });

  it('does not depend on the environment of the machine that generated it', () => {
    const saved = { ...process.env };
    Object.assign(process.env, { REDIS_URL: 'redis://elsewhere:1', PORT: '8081', METRICS_PORT: '9999' });
    try {
      expect(configJsonSchemaText()).toBe(committed);
    } finally {
      for (const key of ['REDIS_URL', 'PORT', 'METRICS_PORT']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it('describes the top-level keys and the four destination types', () => {
    const schema = JSON.parse(committed) as Schema;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.title).toBeTruthy();
    expect(Object.keys(schema.properties ?? {})).toEqual(
      expect.arrayContaining(['redis', 'receiver', 'workers', 'destinations']),
    );
    expect(schema.additionalProperties).toBe(false);
    const branches = schema.properties?.destinations?.items?.oneOf ?? [];
    expect(branches.map((branch) => branch.properties?.type?.const)).toEqual([
      'http',
      'slack',
      'postgres',
      'file',
    ]);
    for (const branch of branches) {
      expect(branch.required).toEqual(expect.arrayContaining(['name', 'type']));
      expect(branch.description).toBeTruthy();
    }
    // Numbers from ${ENV}: a number or a string.
    const port = schema.properties?.receiver?.properties?.port;
    expect(port?.anyOf?.map((branch) => branch.type ?? branch.$ref)).toEqual([
      'integer',
      'string',
      '#/definitions/fromEnvironment',
    ]);
  });

  it('describes every key, in every destination type', () => {
    const keys = configKeys(JSON.parse(committed) as Schema);
    // The walk reaches every destination type, down to the keys of `not`.
    for (const type of ['http', 'slack', 'postgres', 'file']) {
      expect(keys.map(({ path }) => path)).toEqual(
        expect.arrayContaining([
          `destinations[${type}].retry.attempts`,
          `destinations[${type}].filter.not.leg`,
        ]),
      );
    }
    expect(keys.filter(({ schema }) => !schema.description?.trim()).map(({ path }) => path)).toEqual([]);
  });

  it("has every key in README's configuration tables, and README no key that is not there", () => {
    const keys = configKeys(JSON.parse(committed) as Schema)
      .map(({ path }) => path)
      // Not a setting: where editors find this schema (README: `npm run config:schema`).
      .filter((path) => path !== '$schema');
    const documented = readmeConfigKeys(readFileSync(`${root}README.md`, 'utf8'));
    // README gives the keys every destination has once (`destinations[]`), and says `not` takes
    // the same keys as the filter.
    const readmeNames = (path: string) => {
      const name = path.replace('.filter.not.', '.filter.');
      return [name, name.replace(/^destinations\[[a-z]+\]/, 'destinations[]')];
    };
    // An object README gives by its keys (`circuitBreaker.failures`) is there too.
    const inReadme = (path: string) =>
      readmeNames(path).some(
        (name) => documented.has(name) || [...documented].some((key) => key.startsWith(`${name}.`)),
      );
    expect(keys.filter((path) => !inReadme(path))).toEqual([]);

    const names = new Set(keys.flatMap(readmeNames));
    expect([...documented].filter((key) => !names.has(key))).toEqual([]);
  });

  it('accepts every shipped config as written (with ${VAR}) and rejects mistakes', () => {
    const schema = configJsonSchema() as Schema;
    const files = [
      'config/forwarder.yaml',
      'config/docker.yaml',
      ...readdirSync(`${root}config/examples`).map((f) => `config/examples/${f}`),
    ];
    for (const file of files)
      expect(validate(schema, parse(readFileSync(`${root}${file}`, 'utf8')), schema), file).toEqual([]);

    expect(validate(schema, { receiver: { port: '${PORT}', trustProxy: '2' } }, schema)).toEqual([]);
    expect(validate(schema, { reciever: {} }, schema)).toEqual(['reciever: unknown key']);
    expect(validate(schema, { receiver: { port: 70000 } }, schema)).toEqual([
      'receiver.port: no alternative matches',
    ]);
    expect(validate(schema, { destinations: [{ name: 'x', type: 'file' }] }, schema)).toEqual([
      'destinations[0]: not exactly one alternative matches',
    ]);
  });

  it('is named by the first line of every YAML config', () => {
    const files = [
      'forwarder.yaml',
      'docker.yaml',
      ...readdirSync(`${root}config/examples`).map((f) => `examples/${f}`),
    ];
    for (const file of files) {
      const first = readFileSync(`${root}config/${file}`, 'utf8').split('\n')[0];
      const relative = file.startsWith('examples/') ? '../forwarder.schema.json' : './forwarder.schema.json';
      expect(first, file).toBe(`# yaml-language-server: $schema=${relative}`);
    }
  });
});

interface Schema {
  $schema?: string;
  $ref?: string;
  title?: string;
  description?: string;
  type?: string;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  definitions?: Record<string, Schema>;
}

/**
 * Every key of the config as the JSON Schema gives it, with its path: `receiver.port`, and a
 * destination type's own `destinations[http].oauth2.tokenUrl`. (The names of a map, such as the
 * headers of `headers`, are the user's, not keys of the config.)
 */
function configKeys(schema: Schema, path = ''): { path: string; schema: Schema }[] {
  const keys: { path: string; schema: Schema }[] = [];
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const keyPath = path ? `${path}.${key}` : key;
    keys.push({ path: keyPath, schema: property }, ...configKeys(property, keyPath));
  }
  if (schema.items) keys.push(...configKeys(schema.items, path));
  for (const branch of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    const type = branch.properties?.type?.const;
    keys.push(...configKeys(branch, typeof type === 'string' ? `${path}[${type}]` : path));
  }
  return keys;
}

/**
 * The keys README's "Configuration" gives, in the paths of `configKeys`: a `### \`redis\``
 * section's table rows (`| \`url\` |` is `redis.url`; a row may give several, and a table `key
 * under \`oauth2\`` the keys of one object), the keys every destination has as `destinations[]`,
 * a type's own as `destinations[http]`, and the filter's from the YAML of "Filters".
 */
function readmeConfigKeys(readme: string): Set<string> {
  const start = readme.indexOf('\n## Configuration\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const keys = new Set<string>();
  let prefix: string | undefined;
  let under = '';
  let yaml: string[] | undefined;
  for (const line of section.split('\n')) {
    if (yaml) {
      if (line.startsWith('```')) {
        const filter = (parse(yaml.join('\n')) as { filter?: Record<string, unknown> } | null)?.filter;
        for (const key of Object.keys(filter ?? {})) keys.add(`destinations[].filter.${key}`);
        yaml = undefined;
      } else yaml.push(line);
      continue;
    }
    const heading = /^(#{3,4}) (.*)$/.exec(line);
    if (heading) {
      const [, level, title = ''] = heading;
      const key = /^`([A-Za-z0-9]+)`$/.exec(title)?.[1];
      const type = /^`type: ([a-z]+)`/.exec(title)?.[1];
      if (key) keys.add(key);
      prefix =
        key === 'destinations'
          ? 'destinations[]'
          : (key ?? (type ? `destinations[${type}]` : level === '####' ? prefix : undefined));
      if (title === 'Filters') prefix = 'destinations[].filter';
      continue;
    }
    if (line.startsWith('```yaml') && prefix === 'destinations[].filter') yaml = [];
    const cell = /^\| ([^|]*) \|/.exec(line)?.[1];
    if (prefix === undefined || cell === undefined || cell.startsWith('---')) continue;
    if (cell.startsWith('key')) {
      under = /^key under `([A-Za-z0-9.]+)`$/.exec(cell)?.[1] ?? '';
      continue;
    }
    for (const [, key] of cell.matchAll(/`([A-Za-z0-9.]+)`/g)) {
      keys.add([prefix, under, key].filter(Boolean).join('.'));
    }
  }
  return keys;
}

/** Just enough draft-07 for our schema (the keywords the generator emits), to check it in tests. */
function validate(schema: Schema, value: unknown, rootSchema: Schema, path = ''): string[] {
  const at = path || '(top level)';
  if (schema.$ref) {
    const target = rootSchema.definitions?.[schema.$ref.replace('#/definitions/', '')];
    return target ? validate(target, value, rootSchema, path) : [`${at}: unknown $ref ${schema.$ref}`];
  }
  if (
    schema.anyOf &&
    !schema.anyOf.some((branch) => validate(branch, value, rootSchema, path).length === 0)
  ) {
    return [`${at}: no alternative matches`];
  }
  if (
    schema.oneOf &&
    schema.oneOf.filter((branch) => validate(branch, value, rootSchema, path).length === 0).length !== 1
  ) {
    return [`${at}: not exactly one alternative matches`];
  }
  const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  if (schema.type) {
    const ok = schema.type === 'integer' ? Number.isInteger(value) : schema.type === type;
    if (!ok) return [`${at}: expected ${schema.type}`];
  }
  if ('const' in schema && value !== schema.const) return [`${at}: expected ${String(schema.const)}`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: not in enum`];
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value))
      return [`${at}: does not match ${schema.pattern}`];
    if (schema.minLength !== undefined && value.length < schema.minLength) return [`${at}: too short`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return [`${at}: below minimum`];
    if (schema.maximum !== undefined && value > schema.maximum) return [`${at}: above maximum`];
  }
  const errors: string[] = [];
  if (Array.isArray(value) && schema.items) {
    for (const [index, item] of value.entries()) {
      errors.push(...validate(schema.items, item, rootSchema, `${path}[${index}]`));
    }
  }
  if (type === 'object' && schema.type === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? [])
      if (!(key in object)) errors.push(`${path ? `${path}.` : ''}${key}: missing`);
    for (const [key, item] of Object.entries(object)) {
      const keyPath = path ? `${path}.${key}` : key;
      const property = schema.properties?.[key];
      if (property) errors.push(...validate(property, item, rootSchema, keyPath));
      else if (schema.additionalProperties === false) errors.push(`${keyPath}: unknown key`);
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...validate(schema.additionalProperties, item, rootSchema, keyPath));
      }
    }
  }
  return errors;
}
