import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/index.ts';

const configDir = fileURLToPath(new URL('../../config/', import.meta.url));

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, 'f.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('the shipped config works with nothing but Redis: one file destination', () => {
    const config = loadConfig(`${configDir}forwarder.yaml`, {});
    expect(config.destinations.map((d) => [d.name, d.type])).toEqual([['archive', 'file']]);
    expect(config.receiver).toMatchObject({ port: 3000, path: '/webhook/cdr', maxBodyBytes: 65536 });
    expect(config.receiver.token).toBeUndefined();
  });

  it('every example is valid once its variables are set', () => {
    const env = {
      WEBHOOK_TOKEN: 'a-token-of-24-characters',
      CRM_URL: 'https://crm.example.com/hooks/telecmi',
      CRM_API_KEY: 'k',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
    };
    for (const file of readdirSync(`${configDir}examples`)) {
      const config = loadConfig(`${configDir}examples/${file}`, env);
      expect(config.destinations.length, file).toBeGreaterThan(0);
    }
  });

  it('a placeholder that names no call-event field is a mistake, in a template, a header or the URL', () => {
    const found = problems(`destinations:
  - name: crm
    type: http
    url: "http://crm.example/calls/{{callid}}"
    headers: {X-Agent: "{{agnet}}", Idempotency-Key: "{{id}}"}
    template: {dur: "{{duration}}", who: "{{from.x}}", ok: ["{{raw.duration}}", "{{custom.a.b}}", "{{ answeredSec }}"]}
  - {name: chat, type: slack, webhookUrl: "https://hooks.slack.com/services/x", template: {text: "from {{From}}"}}
`);
    const fields = 'id, provider, kind, status, direction, leg, callId,';
    expect(found).toEqual([
      expect.stringMatching(
        /^destinations\[0\]\.url: "callid" names no call-event field: did you mean \{\{callId\}\}\? \(fields: /,
      ),
      expect.stringMatching(
        /^destinations\[0\]\.headers\.X-Agent: "agnet" names no call-event field \(fields: /,
      ),
      expect.stringMatching(
        /^destinations\[0\]\.template: "duration" names no call-event field: did you mean \{\{answeredSec\}\}\?/,
      ),
      'destinations[0].template: "from.x": from has no fields of its own (only raw, custom and extraParams do)',
      expect.stringMatching(
        /^destinations\[1\]\.template: "From" names no call-event field: did you mean \{\{from\}\}\?/,
      ),
    ]);
    expect(found[0]).toContain(fields);
    expect(found[0]).toContain('{{raw.NAME}} for a field as TeleCMI sent it');
  });

  it('fills ${VAR} and ${VAR:-default} from the environment, with numbers from strings', () => {
    const config = parseConfig('receiver:\n  port: ${PORT:-3000}\n  token: ${TOKEN}\n', 'f.yaml', {
      PORT: '8080',
      TOKEN: 'abcdefghijklmnopqrstuvwxyz',
    });
    expect(config.receiver.port).toBe(8080);
    expect(config.receiver.token).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('names the key of a missing variable', () => {
    expect(problems('destinations:\n  - {name: a, type: http, url: "${CRM_URL}"}\n')).toEqual([
      'destinations[0].url: environment variable CRM_URL is not set (write ${CRM_URL:-default} to make it optional)',
    ]);
  });

  it('names every missing variable in one go, with the other mistakes of the file', () => {
    expect(
      problems(`
receiver: {port: abc, token: "\${WEBHOOK_TOKEN}"}
destinations:
  - name: crm
    type: http
    url: \${CRM_URL}
    headers: {Authorization: "Basic \${CRM_USER}:\${CRM_PASSWORD}"}
    retyr: {attempts: 3}
`),
    ).toEqual([
      'receiver.token: environment variable WEBHOOK_TOKEN is not set (write ${WEBHOOK_TOKEN:-default} to make it optional)',
      'destinations[0].url: environment variable CRM_URL is not set (write ${CRM_URL:-default} to make it optional)',
      'destinations[0].headers.Authorization: environment variable CRM_USER is not set (write ${CRM_USER:-default} to make it optional)',
      'destinations[0].headers.Authorization: environment variable CRM_PASSWORD is not set (write ${CRM_PASSWORD:-default} to make it optional)',
      'receiver.port: expected a whole number from 0 to 65535',
      'destinations[0].retyr: unknown key (check its spelling; README lists every key)',
    ]);
  });

  it('refuses a "${" that is not a placeholder instead of sending it as text', () => {
    const message =
      'a "${" that is not a placeholder: write ${NAME} or ${NAME:-default} (NAME: letters, digits, "_"), or $${ for a literal ${';
    expect(problems('receiver:\n  token: ${WEBHOOK_TOKEN\n')).toEqual([`receiver.token: ${message}`]);
    expect(problems('receiver:\n  path: /hook/${1ST}\n')).toEqual([`receiver.path: ${message}`]);
    // `$${` is a literal `${`.
    const config = parseConfig('receiver:\n  token: "abc$${defghijklmnopqrstu"\n', 'f.yaml', {});
    expect(config.receiver.token).toBe('abc${defghijklmnopqrstu');
  });

  it('names the path of every bad key and what was expected', () => {
    expect(
      problems(`
receiver:
  port: 70000
  allowIps: [10.0.0.0/8, nonsense]
retention: {deliveredDays: 0, ingestMaxJobs: many}
destinations:
  - {name: crm, type: http, url: "ftp://x"}
  - {name: crm, type: file, path: /tmp}
  - {name: chat, type: slack, webhookUrl: "https://hooks.slack.com/x", maskNumbers: maybe}
  - {name: dw, type: postgres, url: "postgres://x/db", batch: {size: 0}}
  - {name: w, type: carrier-pigeon}
  - {name: f, type: file, path: /tmp, retry: {backoff: linear}}
  - {name: "bad name", type: file, path: /tmp}
  - {name: g, type: file, path: /tmp, circuitBreaker: {failures: 0}}
`),
    ).toEqual([
      'receiver.port: expected a whole number from 0 to 65535',
      'receiver.allowIps[1]: expected an IP address or CIDR block such as 10.0.0.0/8',
      'retention.deliveredDays: expected a whole number from 1 to 365',
      'retention.ingestMaxJobs: expected a whole number from 10 to 1000000',
      'destinations[0].url: expected a URL starting with http:// or https://',
      'destinations[2].maskNumbers: expected true or false',
      'destinations[3].batch.size: expected a whole number from 1 to 10000',
      'destinations[4].type: unknown destination type: expected "http" | "slack" | "postgres" | "file"',
      'destinations[5].retry.backoff: expected "exponential" or "fixed"',
      'destinations[6].name: expected letters, digits, "-" or "_" (at most 63), such as "crm"',
      'destinations[7].circuitBreaker.failures: expected a whole number from 1 to 10000',
    ]);
  });

  it('refuses destination URLs that point at link-local or metadata addresses unless allowed', () => {
    expect(
      problems(`
destinations:
  - {name: a, type: http, url: "http://169.254.169.254/latest/meta-data"}
  - {name: b, type: slack, webhookUrl: "http://[fe80::1]/hook"}
  - {name: c, type: postgres, url: "postgres://metadata.google.internal/db"}
  - {name: d, type: http, url: "http://169.254.10.10/", allowLinkLocal: true}
  - {name: e, type: http, url: "http://10.0.0.5/hook"}
  - {name: f, type: http, url: "http://[::ffff:169.254.169.254]/latest"}
  - {name: g, type: http, url: "http://[::ffff:a9fe:a9fe]/latest"}
  - {name: h, type: http, url: "http://metadata.google.internal./computeMetadata"}
  - {name: i, type: http, url: "http://0xa9fea9fe/latest"}
  - {name: j, type: http, url: "http://[::ffff:10.0.0.5]/hook"}
`),
    ).toEqual(
      ['[0].url', '[1].webhookUrl', '[2].url', '[5].url', '[6].url', '[7].url', '[8].url'].map(
        (key) =>
          `destinations${key}: points at a link-local or cloud metadata address; set allowLinkLocal: true if you really mean it`,
      ),
    );
  });

  it('refuses a URL without its scheme with the key and the expected form, not a crash', () => {
    expect(
      problems(`
redis: {url: "127.0.0.1:6379"}
destinations:
  - {name: a, type: http, url: "127.0.0.1:3901/calls"}
  - {name: b, type: http, url: "https//crm.example/hook"}
  - {name: c, type: slack, webhookUrl: "hooks.slack.com/services/T/B/X"}
  - {name: d, type: postgres, url: "127.0.0.1:5432/test"}
  - {name: e, type: http, url: "ftp://crm.example/hook"}
`),
    ).toEqual([
      'redis.url: expected a URL starting with redis:// or rediss://',
      'destinations[0].url: expected a URL starting with http:// or https://',
      'destinations[1].url: expected a URL starting with http:// or https://',
      'destinations[2].webhookUrl: expected a URL starting with https:// or http://',
      'destinations[3].url: expected a URL starting with postgres:// or postgresql://',
      'destinations[4].url: expected a URL starting with http:// or https://',
    ]);
  });

  it('never quotes a value it refuses (it may be a secret)', () => {
    const [problem] = problems('receiver:\n  token: 1234567890123456789\n');
    expect(problem).toBe('receiver.token: Invalid type: Expected string but received a number');
  });

  it('checks previousSigningSecret as a signing secret, and leaves it unset when empty', () => {
    const http =
      '  - {name: crm, type: http, url: "http://crm.example/hook", signingSecret: whsec_U0lHTklOR1NFQ1JFVDE=';
    expect(problems(`destinations:\n${http}, previousSigningSecret: not-a-secret}\n`)).toEqual([
      'destinations[0].previousSigningSecret: expected a Standard Webhooks secret: whsec_ then base64 (or empty for none)',
    ]);
    expect(problems(`destinations:\n${http}, previousSigningSecret: ""}\n`)).toEqual([]);
  });

  it('takes {{field}} placeholders in the path and query of an http URL, and refuses them in its host', () => {
    const http = (url: string) => `destinations:\n  - {name: crm, type: http, url: "${url}"}\n`;
    expect(problems(http('https://crm.example/api/calls/{{id}}?leg={{leg}}'))).toEqual([]);
    for (const url of [
      'https://{{raw.host}}/calls',
      'https://crm.example:{{raw.port}}/calls',
      '{{raw.url}}',
    ]) {
      expect(problems(http(url))).toEqual([
        'destinations[0].url: placeholders ({{field}}) may stand in the path or query only, not in the scheme, host or port',
      ]);
    }
  });

  it('checks oauth2: its keys, its token URL, and no second Authorization header', () => {
    const http = (extra: string) =>
      `destinations:\n  - {name: crm, type: http, url: "https://crm.example/hook", ${extra}}\n`;
    const oauth2 = 'oauth2: {tokenUrl: "https://auth.example/token", clientId: c, clientSecret: s}';
    expect(problems(http(oauth2))).toEqual([]);
    expect(problems(http('oauth2: {tokenUrl: "https://auth.example/token", clientSecret: s}'))).toEqual([
      'destinations[0].oauth2.clientId: missing',
    ]);
    expect(problems(http(`${oauth2}, headers: {authorization: "Bearer x"}`))).toEqual([
      'destinations[0].headers.authorization: oauth2 sets the Authorization header: remove this one, or oauth2',
    ]);
    expect(
      problems(http('oauth2: {tokenUrl: "http://169.254.169.254/token", clientId: c, clientSecret: s}')),
    ).toEqual([
      'destinations[0].oauth2.tokenUrl: points at a link-local or cloud metadata address; set allowLinkLocal: true if you really mean it',
    ]);
  });

  it('takes deliveredStatuses from 300 to 499 only', () => {
    const http = (statuses: string) =>
      `destinations:\n  - {name: crm, type: http, url: "https://crm.example/hook", deliveredStatuses: ${statuses}}\n`;
    expect(problems(http('[409, "410"]'))).toEqual([]);
    expect(problems(http('[409, 503]'))).toEqual([
      'destinations[0].deliveredStatuses[1]: expected a whole number from 300 to 499',
    ]);
    expect(problems(http('[429]'))).toEqual([
      'destinations[0].deliveredStatuses[0]: 408, 425 and 429 ask for a retry: the endpoint has not taken the event, so they cannot count as delivered',
    ]);
  });

  it('takes a proxy URL, or empty for none', () => {
    const slack = (proxy: string) =>
      `destinations:\n  - {name: s, type: slack, webhookUrl: "https://hooks.slack.com/services/T/B/x", proxy: "${proxy}"}\n`;
    expect(problems(slack('http://user:pass@proxy.internal:3128'))).toEqual([]);
    expect(problems(slack(''))).toEqual([]);
    expect(problems(slack('socks5://proxy.internal:1080'))).toEqual([
      'destinations[0].proxy: expected a URL starting with http:// or https://',
    ]);
  });

  it('says a mapping is expected where a value is given instead of keys', () => {
    expect(
      problems(
        'destinations:\n  - {name: crm, type: http, url: "http://crm.example/hook", rateLimit: 20, retry: [3]}\n',
      ),
    ).toEqual([
      'destinations[0].retry: expected a mapping of its keys ({key: value, …}; README lists them) but received a list',
      'destinations[0].rateLimit: expected a mapping of its keys ({key: value, …}; README lists them) but received a number',
    ]);
  });

  it('says a list is expected where a mapping or a value is given instead', () => {
    expect(problems('receiver:\n  allowIps: 10.0.0.0/8\ndestinations:\n  name: crm\n  type: file\n')).toEqual(
      [
        'receiver.allowIps: expected a list (one item per line, each starting with "- ") but received a string',
        'destinations: expected a list (one item per line, each starting with "- ") but received a mapping',
      ],
    );
  });

  it('refuses header names and values that HTTP cannot carry', () => {
    expect(
      problems(
        'destinations:\n  - {name: crm, type: http, url: "http://crm.example/hook", headers: {"X Api Key": a, X-Key: "${KEY}", X-Name: "Dvořák"}}\n',
        { KEY: 'secret-from-a-file\n' },
      ),
    ).toEqual([
      'destinations[0].headers.X Api Key: expected a header name: letters, digits and -, such as X-Api-Key',
      'destinations[0].headers.X-Key: a header value cannot hold a line break or another control character (an environment variable with its trailing newline?)',
      "destinations[0].headers.X-Name: a header value cannot hold characters beyond Latin-1 (a field's {{placeholder}} is percent-encoded instead)",
    ]);
  });

  it('refuses a token, password or signing secret with a trailing newline (it would never match)', () => {
    const env = {
      TOKEN: 'a-token-of-24-characters\n',
      PASSWORD: 'pw\n',
      SECRET: 'whsec_U0lHTklOR1NFQ1JFVDE=\n',
    };
    const message = 'holds a line break (an environment variable with its trailing newline?)';
    expect(
      problems(
        'receiver: {token: "${TOKEN}"}\nadmin: {password: "${PASSWORD}"}\ndestinations:\n  - {name: crm, type: http, url: "http://crm.example/hook", signingSecret: "${SECRET}"}\n',
        env,
      ),
    ).toEqual([
      `receiver.token: ${message}`,
      `admin.password: ${message}`,
      `destinations[0].signingSecret: ${message}`,
    ]);
  });

  it('keeps the name fanout for the fan-out', () => {
    expect(problems('destinations:\n  - {name: fanout, type: file, path: /tmp/x}\n')).toEqual([
      'destinations[0].name: "fanout" names the fan-out (npm run worker -- --only fanout): choose another name',
    ]);
  });

  it('reports duplicate destination names', () => {
    expect(
      problems('destinations:\n  - {name: a, type: file, path: /x}\n  - {name: a, type: file, path: /y}\n'),
    ).toEqual(['destinations[1].name: duplicate destination name "a": names must be unique']);
  });

  it('refuses unknown keys, so a typo never falls back to a default', () => {
    expect(problems('receiver:\n  maxBodyByte: 10\n')).toEqual([
      'receiver.maxBodyByte: unknown key (check its spelling; README lists every key)',
    ]);
  });

  it('gives the line of a YAML syntax error', () => {
    const [problem] = problems('receiver:\n  port: [1, 2\n');
    expect(problem).toMatch(/^line \d+, column \d+: /);
  });

  it('says when the file is missing', () => {
    expect(() => loadConfig('/nonexistent/forwarder.yaml', {})).toThrow(
      /file not found \(set FORWARDER_CONFIG/,
    );
  });
});
