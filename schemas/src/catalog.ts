/**
 * The schema catalog: `subjects.json` and the `.avsc` files it names, loaded and validated
 * (each file must parse as Avro with the product's `parseSchema`).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type AvroSchema, parseSchema } from '@cdc/avro';
import { CdcError } from '@cdc/core';

/** The folder holding `subjects.json` and the `.avsc` files of this package. */
export const SCHEMAS_DIR = resolve(import.meta.dirname, '..');

export interface CatalogEntry {
  file: string;
  /** The subject with the prefix applied. */
  subject: string;
  topic?: string;
  schema: AvroSchema;
  /** The schema as registered: compact JSON of the file's content. */
  text: string;
}

interface SubjectsFile {
  schemas: { file: string; subject: string; topic?: string }[];
}

function invalid(message: string, file: string): CdcError {
  return new CdcError('CONFIG_INVALID', message, { context: { file } });
}

export function loadCatalog(dir: string = SCHEMAS_DIR, subjectPrefix = ''): CatalogEntry[] {
  const indexPath = join(dir, 'subjects.json');
  let index: SubjectsFile;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as SubjectsFile;
  } catch (err) {
    throw new CdcError('CONFIG_FILE_UNREADABLE', `cannot read ${indexPath}: ${(err as Error).message}`, {
      context: { file: indexPath },
      cause: err,
    });
  }
  if (!Array.isArray(index.schemas))
    throw invalid(`${indexPath}: "schemas" must be a list of { file, subject }`, indexPath);
  const seen = new Set<string>();
  return index.schemas.map((entry, i) => {
    if (typeof entry?.file !== 'string' || typeof entry.subject !== 'string' || !entry.subject) {
      throw invalid(`${indexPath}: schemas[${i}] needs a "file" and a "subject"`, indexPath);
    }
    if (seen.has(entry.subject))
      throw invalid(`${indexPath}: subject ${entry.subject} is listed twice`, indexPath);
    seen.add(entry.subject);
    const path = join(dir, entry.file);
    let schema: AvroSchema;
    try {
      schema = JSON.parse(readFileSync(path, 'utf8')) as AvroSchema;
      parseSchema(schema);
    } catch (err) {
      throw invalid(`${path} is not a valid Avro schema: ${(err as Error).message}`, path);
    }
    return {
      file: entry.file,
      subject: `${subjectPrefix}${entry.subject}`,
      ...(entry.topic === undefined ? {} : { topic: `${subjectPrefix}${entry.topic}` }),
      schema,
      text: JSON.stringify(schema),
    };
  });
}
