/**
 * Dead letters as a service reports them: each one counted in `cdc_dead_letter_total` by the
 * topic it came from and its reason, and, per subject (a table, a topic), one line of
 * `/readyz`'s `attention` with how many since start and the last reason, so that `cdc status`
 * says which table lost changes to the dead-letter topic and why, while the rest flows on.
 *
 *   const deadLettered = deadLetterReporter(telemetry, 'capture-postgres.dead-letter');
 *   deadLettered({ subject: 'table public.orders', topic, reason: err.code, message: err.message });
 */
import type { Telemetry } from './telemetry.ts';

export interface DeadLetterEvent {
  /** What the operator looks at: `table public.orders`, `collection shop.carts`. */
  subject: string;
  /** The topic the record came from or was meant for (the metric's `topic` label). */
  topic: string;
  /** An error code (the metric's `reason` label). */
  reason: string;
  message: string;
}

export function deadLetterReporter(
  telemetry: Pick<Telemetry, 'metrics' | 'readiness'>,
  deadLetterTopic: string,
): (event: DeadLetterEvent, count?: number) => void {
  const seen = new Map<string, number>();
  return (event, count = 1) => {
    telemetry.metrics.deadLetters.add(count, { topic: event.topic, reason: event.reason });
    const total = (seen.get(event.subject) ?? 0) + count;
    seen.set(event.subject, total);
    telemetry.readiness.attention(
      `dead letters ${event.subject}`,
      `${total} record(s) sent to ${deadLetterTopic} since start (each with its reason in its headers); last: ${event.reason}: ${event.message.split('\n')[0]?.slice(0, 300)}`,
    );
  };
}
