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
import type { CdcError } from '@cdc/core';
import type { Consumer } from 'kafkajs';
import { toCdcError } from './errors.ts';

export function onConsumerGaveUp(consumer: Consumer, what: string, gaveUp: (err: CdcError) => void): void {
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) return;
    gaveUp(toCdcError(e.payload.error, `${what}: the Kafka client stopped consuming`));
  });
}
