/**
 * Produce requests of bounded size. A request must stay below the broker's
 * `socket.request.max.bytes` (100 MiB by default: a larger one is dropped and the client sees
 * a closed connection) and each partition's batch below the topic's `max.message.bytes`
 * (`MESSAGE_TOO_LARGE`): a send of many large records is cut into several.
 *
 *   for (const slice of sendSlices(messages, 1_000, 8 * 1024 * 1024))
 *     await producer.send({ topic, messages: slice });
 */

const sizeOf = (v: Buffer | string | null | undefined) =>
  v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

/**
 * Consecutive slices of `messages`, in order, each with at most `maxMessages` messages and
 * `maxBytes` bytes of keys and values (a message larger than that is a slice of its own).
 */
export function sendSlices<M extends { key?: Buffer | string | null; value: Buffer | string | null }>(
  messages: readonly M[],
  maxMessages: number,
  maxBytes: number,
): M[][] {
  const out: M[][] = [];
  let current: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = sizeOf(m.key) + sizeOf(m.value);
    if (current.length > 0 && (current.length >= maxMessages || bytes + size > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
