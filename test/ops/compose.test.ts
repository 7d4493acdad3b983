import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { interpolateString } from '../../src/config/interpolate.ts';

/**
 * Docker is not available on the CI machines, so docker-compose.yml and the Dockerfile are checked
 * here instead of being run: the structure, and that everything they name exists in the repository.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(`${root}${file}`, 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  container_name?: string;
  ports?: unknown[];
  volumes?: string[];
  environment?: Record<string, string> | string[];
  healthcheck?: { test?: string | string[] };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const dockerfile = read('Dockerfile');
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

const words = (command: string | string[] | undefined) =>
  Array.isArray(command) ? command : (command ?? '').split(/\s+/).filter(Boolean);

/** The environment a service gets, with compose's `${VAR:-default}` filled as on a machine with none set. */
function environmentOf(service: Service): Record<string, string> {
  const entries = Array.isArray(service.environment)
    ? service.environment.map((item) => item.split(/=(.*)/s).slice(0, 2) as [string, string])
    : Object.entries(service.environment ?? {});
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolateString(String(value ?? ''), {})]));
}

/** The repository file a path inside the image names (the image's WORKDIR is /app). */
const inRepo = (path: string) => path.replace(/^\/app\//, '');

describe('docker-compose.yml', () => {
  it('has redis, postgres, receiver and worker services', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['redis', 'postgres', 'receiver', 'worker']),
    );
  });

  it('runs Redis as a queue needs it: AOF fsynced every second, no eviction, on a volume', () => {
    const command = words(services.redis?.command).join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync everysec');
    expect(command).toContain('--maxmemory-policy noeviction');
    const volume = services.redis?.volumes?.[0]?.split(':')[0];
    expect(volume).toBeTruthy();
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
  });

  it('gives every service a health check', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(words(service.healthcheck?.test).length, name).toBeGreaterThan(1);
    }
  });

  it('checks the receiver on /healthz (it spools while Redis is down) and the workers on their metrics port', () => {
    expect(words(services.receiver?.healthcheck?.test).join(' ')).toContain('127.0.0.1:3000/healthz');
    expect(words(services.worker?.healthcheck?.test).join(' ')).toContain('127.0.0.1:9464/healthz');
    expect(words(services.postgres?.healthcheck?.test)).toContain('pg_isready');
  });

  it('lets the worker scale: no container_name, no fixed host port', () => {
    const worker = services.worker as Service;
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
  });

  it('starts the receiver after Redis, the workers after Redis and PostgreSQL are healthy', () => {
    expect(services.receiver?.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    expect(services.worker?.depends_on).toMatchObject({
      redis: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
  });

  it.each(['receiver', 'worker'])(
    'gives the %s a config file that exists and loads with the compose defaults',
    (name) => {
      const env = environmentOf(services[name] as Service);
      expect(env.REDIS_URL).toBe('redis://redis:6379');
      expect(env.FORWARDER_CONFIG).toMatch(/^\/app\//);
      const file = `${root}${inRepo(env.FORWARDER_CONFIG as string)}`;
      expect(existsSync(file), file).toBe(true);

      const config = loadConfig(file, env);
      expect(config.redis.url).toBe('redis://redis:6379');
      expect(config.workers.metricsPort).toBe(9464);
      // Every host the config reaches is a service of the stack.
      for (const destination of config.destinations) {
        if (destination.type === 'postgres')
          expect(Object.keys(services)).toContain(new URL(destination.url).hostname);
        if (destination.type === 'file') expect(destination.path).toMatch(/^\/app\/data\//);
      }
      // The secrets the config reads come from the environment compose passes.
      for (const variable of ['WEBHOOK_TOKEN', 'ADMIN_PASSWORD', 'POSTGRES_PASSWORD'])
        expect(env).toHaveProperty(variable);
    },
  );

  it('gives PostgreSQL the password the workers use', () => {
    expect(environmentOf(services.postgres as Service).POSTGRES_PASSWORD).toBe(
      environmentOf(services.worker as Service).POSTGRES_PASSWORD,
    );
  });

  it('builds the receiver and the worker from this repository', () => {
    for (const name of ['receiver', 'worker']) expect(services[name]?.build, name).toBe('.');
  });
});

describe('commands in docker-compose.yml and the Dockerfile', () => {
  const dockerCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  const commands = [
    ...Object.values(services)
      .filter((service) => service.build !== undefined)
      .map((service) => words(service.command)),
    dockerCmd,
  ];

  it('names only npm scripts that package.json has', () => {
    const text = `${read('docker-compose.yml')}\n${dockerfile}`;
    const named = [...text.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1] as string);
    if (/npm start\b/.test(text)) named.push('start');
    for (const script of named) expect(scripts, script).toHaveProperty([script]);
  });

  it('runs the entry point of an npm script, with node as the main process', () => {
    // Through npm, `docker stop`'s SIGTERM ends at npm's `sh -c` and the app is killed without its
    // graceful shutdown; so the image runs the script's own command (node, its flags, the file).
    expect(commands.length).toBeGreaterThanOrEqual(3);
    for (const command of commands) {
      expect(command[0], command.join(' ')).toBe('node');
      const entry = command.at(-1) as string;
      expect(existsSync(`${root}${entry}`), entry).toBe(true);
      expect(Object.values(scripts), entry).toContain(command.join(' '));
    }
    expect(dockerCmd.join(' ')).toBe(scripts.start);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, installs production dependencies only and runs as a non-root user', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThan(1);
    expect(dockerfile).toContain('npm ci --omit=dev');
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((match) => match[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production/m);
  });

  it('exposes the receiver and metrics ports and checks /healthz with node', () => {
    expect(dockerfile).toMatch(/^EXPOSE .*\b3000\b.*\b9464\b/m);
    // The exec form must be valid JSON, or Docker silently runs it through a shell that is not there.
    const healthcheck = JSON.parse(
      /^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null',
    ) as string[];
    expect(healthcheck.slice(0, 2)).toEqual(['node', '-e']);
    expect(healthcheck[2]).toMatch(/^fetch\('http:\/\/127\.0\.0\.1:.*\/healthz'/);
  });

  it('copies only paths that exist, and the runtime needs all of them', () => {
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) =>
      (match[1] as string).split(/\s+/),
    );
    for (const path of copied) expect(existsSync(`${root}${path}`), path).toBe(true);
    for (const path of [
      'src',
      'workers',
      'config',
      'scripts',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
    ]) {
      expect(dockerfile, path).toMatch(new RegExp(`^COPY .*\\b${path.replace('.', '\\.')}\\b`, 'm'));
    }
    const ignored = read('.dockerignore').split('\n');
    for (const path of ['node_modules', '.env', '.git', 'data']) expect(ignored).toContain(path);
  });
});
