export { ConfigError, configFileFromEnv, DEFAULT_CONFIG_FILE, loadConfig, parseConfig } from './load.ts';
export * from './schema.ts';
