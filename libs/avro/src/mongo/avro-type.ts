/**
 * The avsc Type that encodes and decodes the values of inferred MongoDB schemas: the product's
 * `parseSchema` with unions wrapped (`{ "long": 5n }`), every `long` a lossless `bigint`.
 *
 * Why not the product's default (`wrapUnions: 'auto'`): the inferred unions mix numeric
 * branches (`["null","long","double"]`, `["null","int",{"type":"long",…date}]`); unwrapped,
 * an integral double and a long are the same JS number, so a value could not say its branch on
 * write, nor keep it on read.
 */
import type avro from 'avsc';
import { parseSchema } from '../parse-schema.ts';
import type { AvroSchema } from '../schema-types.ts';

/** An avsc Type for an inferred MongoDB value (or key) schema. */
export function mongoAvroType(schema: object): avro.Type {
  return parseSchema(schema as AvroSchema, { wrapUnions: true });
}
