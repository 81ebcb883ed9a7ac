/**
 * Commands of the control service (pause, resume, resync a table) in the PostgreSQL capture.
 * They arrive on the Kafka signal topic (`SignalChannel`); the capture writes each into its
 * source's WAL as a transactional logical message, so that it takes effect at one point of the
 * change stream — ordered with the data, kept across restarts until the slot passes it:
 *
 * - pause / resume: `pg_logical_emit_message(true, 'cdc.control.<source>', '{"type":"pause","table":"public.t"}')`,
 *   read back by the streamer, which holds or releases the table's records (`TablePauses`);
 * - resync: the existing resync request of the incremental snapshot
 *   (`cdc.watermark.<source>`, `resync:{"table":…,"ranges":[{"from":…,"to":…}]}`).
 */

import type { PgQueryable } from '@cdc/avro';
import type { Signal } from '@cdc/capture';
import { RESYNC } from '../snapshot/incremental.ts';

/** The logical message prefix of pause/resume commands of source `name`. */
export const controlPrefix = (name: string): string => `cdc.control.${name}`;

export interface ControlCommand {
  id: string;
  type: 'pause' | 'resume';
  /** `schema.table`. */
  table: string;
}

/** `public.orders` for `orders` or `public.orders`. */
export const qualifiedTable = (t: string): string => (t.includes('.') ? t : `public.${t}`);

/** Writes a signal into the source's WAL (see the file comment). */
export async function emitSignal(client: PgQueryable, source: string, s: Signal): Promise<void> {
  const table = qualifiedTable(s.table);
  if (s.type === 'resync') {
    const range = { from: s.from ?? null, to: s.to ?? null };
    await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
      `cdc.watermark.${source}`,
      `${RESYNC}${JSON.stringify({ table, ranges: [range] })}`,
    ]);
    return;
  }
  const command: ControlCommand = { id: s.id, type: s.type, table };
  await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
    controlPrefix(source),
    JSON.stringify(command),
  ]);
}

/** A control message's content → the command, or an error naming what is wrong. */
export function parseControl(content: Uint8Array): ControlCommand {
  const c = JSON.parse(Buffer.from(content).toString('utf8')) as Partial<ControlCommand>;
  if ((c.type !== 'pause' && c.type !== 'resume') || typeof c.table !== 'string')
    throw new Error('a control message is {"type":"pause"|"resume","table":"schema.table"}');
  return { id: String(c.id ?? ''), type: c.type, table: qualifiedTable(c.table) };
}
