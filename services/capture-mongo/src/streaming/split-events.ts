/**
 * Change events over 16 MB (a large document with its pre-image and post-image): MongoDB cannot
 * return such an event whole, so the streams ask for `$changeStreamSplitLargeEvent` (MongoDB
 * 7.0 / 6.0.9, SecantusDB) where the server has it: the event arrives as fragments
 * (`splitEvent: { fragment, of }`), each holding some of its top-level fields and its own resume
 * token. `Reassembler` puts them back together before the event is encoded, with the last
 * fragment's token (resuming after it is resuming after the whole event). A server without the
 * stage (mongo-java-server) refuses it when the stream opens (`isSplitUnsupported`): the streams
 * open without it, events arrive whole, and one larger than the record size limit becomes a
 * dead letter naming its `_id` and the limit (`change-records.ts`).
 */
import type { ChangeStreamDocument, Document } from 'mongodb';

export const SPLIT_STAGE: Document = { $changeStreamSplitLargeEvent: {} };

/** Whether `err` is the server refusing the `$changeStreamSplitLargeEvent` stage. */
export function isSplitUnsupported(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (e?.code === 40324 || e?.code === 40323 || /Unrecognized pipeline stage/i.test(String(e?.message))) &&
    /\$changeStreamSplitLargeEvent/.test(String(e?.message))
  );
}

export class Reassembler {
  private parts: Document[] = [];
  /** How many fragments the last whole event came in (1: it was not split). */
  fragments = 1;

  /** Whether fragments of an event are pending (its token must not be stored yet). */
  get pending(): boolean {
    return this.parts.length > 0;
  }

  /** The event, whole, or undefined while fragments are missing. */
  add(event: ChangeStreamDocument): ChangeStreamDocument | undefined {
    const split = (event as { splitEvent?: { fragment: unknown; of: unknown } }).splitEvent;
    if (!split) {
      this.parts = [];
      this.fragments = 1;
      return event;
    }
    // The numbers may arrive as Int32, Long or number, depending on the server and the driver.
    const fragment = Number(split.fragment);
    const of = Number(split.of);
    if (fragment === 1) this.parts = [];
    if (fragment !== this.parts.length + 1)
      throw new Error(
        `change stream fragment ${fragment} of ${of} arrived after ${this.parts.length} fragment(s)`,
      );
    this.parts.push(event as Document);
    if (fragment < of) return undefined;
    const whole: Document = {};
    for (const part of this.parts) {
      for (const [k, v] of Object.entries(part)) if (k !== 'splitEvent') whole[k] = v;
    }
    this.fragments = this.parts.length;
    this.parts = [];
    return whole as ChangeStreamDocument;
  }
}
