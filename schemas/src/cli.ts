/**
 * `npm run schemas -- register | check | list [--registry URL] [--subject-prefix P] [--dir DIR]`
 *
 * register  registers every schema in subjects.json under its subject (idempotent)
 * check     checks each against the registry's compatibility rules without registering;
 *           exits 1 naming the subject, field and rule of an incompatible change
 * list      the registry's subjects with their versions
 *
 * The registry URL comes from --registry, else CDC_SCHEMA_REGISTRY_URL, else the local stack's.
 * --subject-prefix puts a prefix before every subject (and topic), e.g. to try changes in
 * isolation; --dir reads subjects.json and the .avsc files from another folder.
 *
 * Runs on Node 24 directly (type stripping) and imports @cdc/avro from its build: the npm
 * script builds libs/avro first (`tsc -b`, well under a second when nothing changed).
 */
import { parseArgs } from 'node:util';
import { RegistryClient } from '@cdc/avro';
import { isCdcError } from '@cdc/core';
import { localEndpoints } from '@cdc/local-stack';
import { loadCatalog, SCHEMAS_DIR } from './catalog.ts';
import { checkAll, listSubjects, registerAll } from './commands.ts';

const USAGE =
  'usage: npm run schemas -- register | check | list [--registry URL] [--subject-prefix PREFIX] [--dir DIR]';

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1 || !['register', 'check', 'list'].includes(command ?? '')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const url = values.registry ?? process.env.CDC_SCHEMA_REGISTRY_URL ?? localEndpoints().registry.url;
  const prefix = values['subject-prefix'] ?? '';
  const client = new RegistryClient({ url });
  const catalog = loadCatalog(values.dir ?? SCHEMAS_DIR, prefix);
  const result =
    command === 'register'
      ? await registerAll(client, catalog)
      : command === 'check'
        ? await checkAll(client, catalog)
        : await listSubjects(client, catalog, prefix);
  for (const line of result.lines) process.stdout.write(`${line}\n`);
  for (const line of result.errors) process.stderr.write(`${line}\n`);
  if (command === 'check') {
    process.stderr.write(
      result.ok
        ? `schemas: ${catalog.length} checked against ${url}, all compatible\n`
        : `schemas: ${result.errors.length} of ${catalog.length} incompatible with what ${url} holds\n`,
    );
  }
  return result.ok ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      registry: { type: 'string' },
      'subject-prefix': { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `schemas: ${isCdcError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.stack ?? err)}\n`,
    );
    process.exitCode = 1;
  },
);
