/**
 * The dead-letter topic: the original key and value, with why and where from in headers
 * (`cdc.dlq.*`), so that a record can be inspected, fixed and replayed. At least once: a
 * crash between producing and committing may dead-letter a record twice.
 *
 * Sizes: the topic holds records of the captures' default limit (`max.message.bytes` raised
 * to it when smaller); sends are cut so that no request or batch is over it; a record whose
 * own value is over it keeps its key and headers, and its value is replaced by nothing, with
 * `cdc.dlq.omitted-bytes` and the reason pointing at where it still is (topic, partition, offset).
 */
import { CdcError, SINK_DEAD_LETTER_HEADERS as H, isCdcError } from '@cdc/core';
import { type RecordSender, recordSizeConfig, sendSlices } from '@cdc/kafka';
import { DEFAULT_MAX_RECORD_BYTES } from '@cdc/pipeline';
import type { KafkaRecord } from './decode.ts';

/** The dead-letter topic's configs raised when smaller: it holds what the captures write. */
export const DEAD_LETTER_TOPIC_CONFIG = recordSizeConfig(DEFAULT_MAX_RECORD_BYTES);
/** Bytes a consumer fetch may hold: at least one whole record of the default limit. */
export const FETCH_BYTES = DEFAULT_MAX_RECORD_BYTES + 1024 * 1024;
/** A dead letter's value larger than this is left out (room for the key, headers and batch). */
const MAX_VALUE_BYTES = DEFAULT_MAX_RECORD_BYTES - 256 * 1024;
/** Bytes per produce request of dead letters. */
const MAX_SEND_BYTES = 8 * 1024 * 1024;

export interface DeadLetter {
  record: KafkaRecord;
  table: string;
  error: unknown;
}

export function deadLetterHeaders(d: DeadLetter, service: string): Record<string, string> {
  const err = isCdcError(d.error)
    ? d.error
    : new CdcError('POISON_RECORD', String((d.error as Error)?.message ?? d.error), { cause: d.error });
  return {
    [H.reason]: err.message.slice(0, 2000),
    [H.code]: err.code,
    [H.topic]: d.record.topic,
    [H.partition]: String(d.record.partition),
    [H.offset]: d.record.offset,
    [H.table]: d.table,
    [H.service]: service,
  };
}

export async function sendDeadLetters(
  producer: RecordSender,
  topic: string,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  const messages = letters.map((d) => deadLetterMessage(d, MAX_VALUE_BYTES));
  for (const slice of sendSlices(messages, 500, MAX_SEND_BYTES))
    await producer.send({ topic, acks: -1, messages: slice });
}

/** The message of one dead letter; a value over `maxValueBytes` is replaced by a reference. */
export function deadLetterMessage(
  d: DeadLetter,
  maxValueBytes: number,
): { key: Buffer | null; value: Buffer | null; headers: Record<string, string> } {
  const headers = deadLetterHeaders(d, 'sink-clickhouse');
  const value = d.record.value;
  if (value === null || value.length <= maxValueBytes) return { key: d.record.key, value, headers };
  return {
    key: d.record.key,
    value: null,
    headers: {
      ...headers,
      [H.omittedBytes]: String(value.length),
      [H.reason]:
        `${headers[H.reason]} (the value, ${value.length} bytes, is over what this topic holds, ${maxValueBytes}: it is still at ${d.record.topic} partition ${d.record.partition} offset ${d.record.offset})`.slice(
          0,
          2400,
        ),
    },
  };
}
