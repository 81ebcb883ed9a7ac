import { z } from 'zod';

const MiB = 1024 * 1024;

/** The default record size limit of both captures: 64 MiB of Avro per change. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * MiB;

/**
 * The largest change a capture writes, in bytes of its Avro record. A larger change is
 * dead-lettered (its table, key, size and this limit in the reason; the other rows and tables
 * go on). The capture creates its topics with `max.message.bytes` to match and raises it on
 * existing ones. At most 96 MiB: a record must fit in one produce request, which the broker
 * caps with `socket.request.max.bytes` (100 MiB by default).
 */
export const MaxRecordBytesSchema = z
  .number()
  .int()
  .min(64 * 1024, 'at least 65536 (64 KiB)')
  .max(
    96 * MiB,
    'at most 100663296 (96 MiB): a record must fit in one produce request (the broker’s socket.request.max.bytes, 100 MiB by default)',
  )
  .default(DEFAULT_MAX_RECORD_BYTES);
