/**
 * Paused tables: while a table is paused, nothing of it reaches its topic; its change records
 * are written, in the same Kafka transactions as the source position, to the capture's held
 * topic (`__<prefix>.paused`, one partition) instead. Resuming the table writes the held records,
 * in their order, to the table's topic in one transaction, then the table flows again: nothing
 * is lost and, since the held records were committed with the position, a restart in between
 * neither loses nor repeats one.
 *
 * Held topic records: a `pause` marker, the table's held records (original key, value and
 * headers plus `cdc-held-topic`/`cdc-held-partition`), a `resume` marker; markers are keyed by
 * the table's topic with header `cdc-held-kind`. The state (which tables are paused, what they
 * hold) is read back from the topic on start (`load`) and when a table resumes.
 *
 * The capture decides where a pause or resume sits in its stream (PostgreSQL: a logical message
 * in the WAL, so the command is ordered with the data) and calls `pause`/`resume` there.
 */
import { type Clock, heldTopic, type Logger } from '@cdc/core';
import { type Admin, ensureTopics, type Kafka, readTopicToEnd, toCdcError } from '@cdc/kafka';
import type { OutRecord } from './offsets-store.ts';

const KIND = 'cdc-held-kind';
const HELD_TOPIC = 'cdc-held-topic';
const HELD_PARTITION = 'cdc-held-partition';

export interface TablePausesOptions {
  kafka: Kafka;
  admin: Admin;
  /** The capture's topic prefix: the held topic is `__<prefix>.paused`. */
  prefix: string;
  logger: Logger;
  /** How long reading the held topic may take before it fails (retriable), default 60 s. */
  readTimeoutMs?: number;
  /** Names the one-off reader group (default: the system clock). */
  clock?: Clock;
}

/**
 * `__<prefix>.paused`: the leading `__` keeps it out of a sink's default topic pattern (it
 * holds other topics' records and is no table of its own).
 */
export { heldTopic } from '@cdc/core';

/** Whether `topic` is `base` or one of its versions (`<base>.v2`, after an incompatible schema change). */
const isTopicOf = (topic: string, base: string): boolean =>
  topic === base || (topic.startsWith(`${base}.v`) && /^\d+$/.test(topic.slice(base.length + 2)));

export class TablePauses {
  readonly topic: string;
  private readonly o: TablePausesOptions;
  /** Base topics of the paused tables. */
  private readonly paused = new Set<string>();
  /** Whether the held topic exists (it is created at the first pause, not before). */
  private exists = false;
  /** The held topic's end offset when `load` last read it. */
  private loadedEnd: bigint | undefined;

  constructor(options: TablePausesOptions) {
    this.o = options;
    this.topic = heldTopic(options.prefix);
  }

  /** Reads which tables are paused (none while the held topic does not exist). */
  async load(): Promise<void> {
    try {
      this.exists = (await this.o.admin.listTopics()).includes(this.topic);
    } catch (err) {
      throw toCdcError(err, `looking for the held topic ${this.topic}`);
    }
    if (!this.exists) {
      this.paused.clear();
      return;
    }
    // Read again only when the topic grew (the control service asks every few seconds).
    const end = await this.endOffset();
    if (end === this.loadedEnd) return;
    const held = await this.readHeld();
    this.loadedEnd = end;
    this.paused.clear();
    for (const t of held.keys()) this.paused.add(t);
    if (this.paused.size > 0) this.o.logger.info('paused tables', { tables: [...this.paused] });
  }

  /** The base topics of the paused tables. */
  get pausedTopics(): string[] {
    return [...this.paused].sort();
  }

  isPaused(topic: string): boolean {
    for (const base of this.paused) if (isTopicOf(topic, base)) return true;
    return false;
  }

  /** Records bound for a paused table's topic go to the held topic instead; the others unchanged. */
  route(records: OutRecord[]): OutRecord[] {
    if (this.paused.size === 0) return records;
    return records.map((r) => {
      if (!this.isPaused(r.topic)) return r;
      return {
        topic: this.topic,
        key: r.key,
        value: r.value,
        partition: 0,
        headers: {
          ...r.headers,
          [KIND]: 'record',
          [HELD_TOPIC]: r.topic,
          ...(r.partition === undefined ? {} : { [HELD_PARTITION]: String(r.partition) }),
        },
      };
    });
  }

  /** Pauses the table of `baseTopic`: returns the marker to write with the position (none when paused already). */
  async pause(baseTopic: string): Promise<OutRecord[]> {
    if (this.paused.has(baseTopic)) return [];
    if (!this.exists) {
      await ensureTopics(this.o.admin, [{ topic: this.topic, numPartitions: 1 }]);
      this.exists = true;
    }
    this.paused.add(baseTopic);
    this.o.logger.info('table paused', { topic: baseTopic });
    return [this.marker(baseTopic, 'pause')];
  }

  /**
   * Resumes the table of `baseTopic`: the records to write with the position, in order — what
   * the held topic holds for it (committed), then its held records still in `pending` (removed
   * from it), then the resume marker. None when the table is not paused.
   */
  async resume(baseTopic: string, pending: OutRecord[]): Promise<OutRecord[]> {
    if (!this.paused.has(baseTopic)) return [];
    const committed = (await this.readHeld()).get(baseTopic) ?? [];
    const buffered: OutRecord[] = [];
    for (let i = 0; i < pending.length; ) {
      const r = pending[i] as OutRecord;
      const target = r.topic === this.topic ? r.headers?.[HELD_TOPIC] : undefined;
      if (target !== undefined && isTopicOf(target, baseTopic)) {
        buffered.push(unheld(r));
        pending.splice(i, 1);
      } else i++;
    }
    this.paused.delete(baseTopic);
    this.o.logger.info('table resumed', {
      topic: baseTopic,
      released: committed.length + buffered.length,
    });
    return [...committed, ...buffered, this.marker(baseTopic, 'resume')];
  }

  private marker(baseTopic: string, kind: 'pause' | 'resume'): OutRecord {
    return { topic: this.topic, key: baseTopic, value: null, partition: 0, headers: { [KIND]: kind } };
  }

  /** The held topic's end offset. */
  private async endOffset(): Promise<bigint> {
    try {
      const offsets = await this.o.admin.fetchTopicOffsets(this.topic);
      return BigInt(offsets.find((o) => o.partition === 0)?.high ?? '0');
    } catch (err) {
      throw toCdcError(err, `reading the end of the held topic ${this.topic}`);
    }
  }

  /** Base topic → the held records (as written to their own topic) of each table paused now. */
  private async readHeld(): Promise<Map<string, OutRecord[]>> {
    const held = new Map<string, OutRecord[]>();
    await readTopicToEnd(
      this.o.kafka,
      this.topic,
      (messages) => {
        for (const m of messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {}))
            if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
          const kind = headers[KIND];
          if (kind === 'pause') held.set(m.key?.toString() ?? '', []);
          else if (kind === 'resume') held.delete(m.key?.toString() ?? '');
          else if (kind === 'record') {
            const target = headers[HELD_TOPIC] ?? '';
            for (const [base, list] of held)
              if (isTopicOf(target, base))
                list.push(unheld({ topic: this.topic, key: m.key, value: m.value, headers }));
          }
        }
      },
      {
        admin: this.o.admin,
        label: `the held topic ${this.topic}`,
        timeoutMs: this.o.readTimeoutMs,
        clock: this.o.clock,
      },
    );
    return held;
  }
}

/** A held record as it goes to its own topic. */
function unheld(r: OutRecord): OutRecord {
  const { [KIND]: _k, [HELD_TOPIC]: topic, [HELD_PARTITION]: partition, ...headers } = r.headers ?? {};
  return {
    topic: topic as string,
    key: r.key,
    value: r.value,
    ...(partition === undefined ? {} : { partition: Number(partition) }),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
}
