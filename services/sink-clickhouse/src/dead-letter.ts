/**
 * The dead-letter topic: the original key and value, with why and where from in headers
 * (`cdc.dlq.*`), so that a record can be inspected, fixed and replayed. At least once: a
 * crash between producing and committing may dead-letter a record twice.
 */
import { CdcError, isCdcError } from '@cdc/core';
import type { Producer } from '@cdc/kafka';
import type { KafkaRecord } from './decode.ts';

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
    'cdc.dlq.reason': err.message.slice(0, 2000),
    'cdc.dlq.code': err.code,
    'cdc.dlq.topic': d.record.topic,
    'cdc.dlq.partition': String(d.record.partition),
    'cdc.dlq.offset': d.record.offset,
    'cdc.dlq.table': d.table,
    'cdc.dlq.service': service,
  };
}

export async function sendDeadLetters(
  producer: Producer,
  topic: string,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await producer.send({
    topic,
    acks: -1,
    messages: letters.map((d) => ({
      key: d.record.key,
      value: d.record.value,
      headers: deadLetterHeaders(d, 'sink-clickhouse'),
    })),
  });
}
