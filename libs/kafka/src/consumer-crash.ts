/**
 * kafkajs restarts a consumer by itself after a crash it deems retriable. After any other crash
 * it disconnects, stops fetching for good, and says so only in its CRASH event. One example is
 * `KafkaJSGroupCoordinatorNotFound` while a restarted broker still loads its groups. Unwatched,
 * such a consumer sits idle while its service answers ready.
 *
 *   onConsumerGaveUp(consumer, `consuming group ${groupId}`, (err) => fail(err));
 *
 * `gaveUp` gets the crash as a CdcError, classified like every Kafka error (`toCdcError`): a
 * broker that is away or still loading is retriable, so the unit that owns the consumer fails and
 * its supervisor starts it again from what Kafka committed; anything else stops it loudly.
 */
import type { CdcError, Logger } from '@cdc/core';
import type { Consumer } from 'kafkajs';
import { toCdcError } from './errors.ts';

export function onConsumerGaveUp(consumer: Consumer, what: string, gaveUp: (err: CdcError) => void): void {
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) return;
    gaveUp(toCdcError(e.payload.error, `${what}: the Kafka client stopped consuming`));
  });
}

/**
 * For a reader that must keep following its topic (a capture's signals, the processor's
 * members): once kafkajs gave up on `consumer`, logs `what` and calls `reopen` after `delayMs`,
 * unless `current()` no longer returns this consumer (the reader stopped or already replaced
 * it). `reopen` opens a new consumer and watches it the same way; its failure is logged.
 */
export function reopenWhenGivenUp(
  consumer: Consumer,
  o: {
    what: string;
    current: () => Consumer | undefined;
    reopen: () => Promise<void>;
    logger: Logger;
    delayMs?: number;
  },
): void {
  const delayMs = o.delayMs ?? 2_000;
  onConsumerGaveUp(consumer, o.what, (err) => {
    if (o.current() !== consumer) return;
    o.logger.warn(`${o.what} stopped; reading it again in ${delayMs / 1000} s`, { err });
    setTimeout(() => {
      if (o.current() !== consumer) return;
      void o
        .reopen()
        .catch((e: unknown) =>
          o.logger.warn(`${o.what} could not be opened again`, { err: toCdcError(e, o.what) }),
        );
    }, delayMs).unref();
  });
}
