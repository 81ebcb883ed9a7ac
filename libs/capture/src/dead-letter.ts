/**
 * Dead letters: a change that cannot be written as Avro (a value that is not valid UTF-8, a
 * NOT NULL column that arrived as NULL, …) goes to the capture's dead-letter topic instead of
 * stopping the pipeline, in the same transaction as the changes around it. The reason travels
 * in headers; the value is the change as JSON with the source's raw values, so an operator
 * can repair and replay it.
 *
 * Headers: `cdc.error.code`, `cdc.error.message`, `cdc.error.context` (JSON),
 * `cdc.source.topic` (where the change would have gone), `cdc.change-id`.
 */
import {
  type CdcError,
  type DeadLetterReason,
  DEAD_LETTER_HEADERS as H,
  readDeadLetter,
  stableJson,
} from '@cdc/core';
import type { OutRecord } from './offsets-store.ts';

export { deadLetterTopic } from '@cdc/core';

export function deadLetterRecord(options: {
  topic: string;
  sourceTopic: string;
  changeId: string;
  error: CdcError;
  /** What could not be written, as JSON (Buffers become base64 strings). */
  payload: unknown;
  key?: string | null;
}): OutRecord {
  const { error } = options;
  const value = stableJson(options.payload);
  return {
    topic: options.topic,
    key: options.key ?? null,
    value,
    headers: {
      [H.code]: error.code,
      [H.message]: error.message,
      [H.context]: JSON.stringify(error.context),
      [H.sourceTopic]: options.sourceTopic,
      [H.changeId]: options.changeId,
    },
  };
}

/** The reason of the dead letter among `records` (what `deadLetterRecord` wrote). */
export function deadLetterReason(records: readonly OutRecord[]): DeadLetterReason {
  for (const r of records) {
    const reason = r.headers ? readDeadLetter(r.headers) : null;
    if (reason) return reason;
  }
  return { code: 'POISON_RECORD', message: '', topic: null };
}
