/**
 * `npm run config:schema`: writes `config/forwarder.schema.json` from the valibot schema, so editors
 * complete and check the YAML config. `--check` only compares and exits 1 when the file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_JSON_SCHEMA_FILE, configJsonSchemaText } from '../src/config/json-schema.ts';
import { flagsOrFail } from './cli.ts';

const values = flagsOrFail(
  'config:schema',
  { check: { type: 'boolean', default: false } },
  'npm run config:schema [-- --check]',
);
const text = configJsonSchemaText();
if (values.check) {
  let current = '';
  try {
    current = readFileSync(CONFIG_JSON_SCHEMA_FILE, 'utf8');
  } catch {}
  if (current !== text) {
    process.stderr.write(
      `config:schema: ${CONFIG_JSON_SCHEMA_FILE} is out of date: run npm run config:schema\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${CONFIG_JSON_SCHEMA_FILE} is up to date\n`);
} else {
  writeFileSync(CONFIG_JSON_SCHEMA_FILE, text);
  process.stdout.write(`wrote ${CONFIG_JSON_SCHEMA_FILE}\n`);
}
