/**
 * One logical replication connection (`START_REPLICATION … LOGICAL`), read as a bounded queue:
 * XLogData messages decoded by `decodePgoutput`, and keepalives. The socket is paused while
 * the queue is full, so memory stays bounded whatever the size of a source transaction.
 *
 * Acknowledgement is explicit: the slot's `confirmed_flush_lsn` moves only to what the caller
 * passes to `acknowledge` (after its Kafka commit). Keepalives that ask for a reply get the
 * last acknowledged LSN at once; a status update goes out at least every `statusIntervalMs`.
 */
import { CdcError, formatLsn } from '@cdc/core';
import pg from 'pg';
import { decodePgoutput, type PgoutputMessage } from './decoder.ts';

export type StreamItem =
  | { kind: 'data'; walStart: bigint; message: PgoutputMessage }
  /** The server has sent everything up to `walEnd`. */
  | { kind: 'keepalive'; walEnd: bigint };

export interface ReplicationStreamOptions {
  connection: pg.ClientConfig;
  slot: string;
  publication: string;
  /** Start LSN; 0 means the slot's confirmed_flush_lsn. */
  startLsn?: bigint;
  /** Ask pgoutput for logical messages (pg_logical_emit_message). */
  messages?: boolean;
  highWater?: number;
  statusIntervalMs?: number;
}

/** Microseconds from the Unix epoch to 2000-01-01. */
const PG_EPOCH_MS = 946_684_800_000;

interface PgConnection {
  on(event: string, listener: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

export class ReplicationStream {
  private readonly options: ReplicationStreamOptions;
  private client: pg.Client | undefined;
  private connection: PgConnection | undefined;
  private readonly queue: StreamItem[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  private failure: unknown;
  private ended = false;
  private paused = false;
  private acked = 0n;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly highWater: number;

  constructor(options: ReplicationStreamOptions) {
    this.options = options;
    this.highWater = options.highWater ?? 5_000;
  }

  /** Connects and starts streaming; resolves once the server has started the copy. */
  async start(): Promise<void> {
    const { slot, publication } = this.options;
    const client = new pg.Client({ ...this.options.connection, replication: 'database' } as pg.ClientConfig);
    this.client = client;
    client.on('error', (err) => this.fail(sourceError(err, slot)));
    await client.connect();
    const connection = (client as unknown as { connection: PgConnection }).connection;
    this.connection = connection;
    const started = new Promise<void>((resolve) => connection.on('replicationStart', () => resolve()));
    connection.on('copyData', ((msg: { chunk: Buffer }) => this.onCopyData(msg.chunk)) as never);
    const opts = [
      `proto_version '1'`,
      `publication_names '${publication.replaceAll("'", "''")}'`,
      ...(this.options.messages ? [`messages 'true'`] : []),
    ];
    const sql = `START_REPLICATION SLOT "${slot}" LOGICAL ${formatLsn(this.options.startLsn ?? 0n)} (${opts.join(', ')})`;
    const done = client.query(sql).then(
      () => {
        this.ended = true;
        this.wake();
      },
      (err: unknown) => this.fail(sourceError(err, slot)),
    );
    await Promise.race([started, done.then(() => this.throwIfFailed())]);
    this.throwIfFailed();
    this.statusTimer = setInterval(() => this.sendStatus(false), this.options.statusIntervalMs ?? 10_000);
    this.statusTimer.unref();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private onCopyData(chunk: Buffer): void {
    const type = chunk[0];
    if (type === 0x77) {
      // XLogData: walStart, walEnd, sendTime, then the payload. Copied: the parser reuses its buffer.
      const walStart = chunk.readBigUInt64BE(1);
      const message = decodePgoutput(Buffer.from(chunk.subarray(25)));
      this.push({ kind: 'data', walStart, message });
    } else if (type === 0x6b) {
      const walEnd = chunk.readBigUInt64BE(1);
      const replyNow = chunk[17] === 1;
      if (replyNow) this.sendStatus(false);
      this.push({ kind: 'keepalive', walEnd });
    }
  }

  private push(item: StreamItem): void {
    this.queue.push(item);
    if (!this.paused && this.queue.length - this.head >= this.highWater) {
      this.paused = true;
      this.connection?.stream.pause();
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.wake();
  }

  /** The next item, waiting for one; throws when the connection failed, null when it ended. */
  async next(signal?: AbortSignal): Promise<StreamItem | null> {
    for (;;) {
      if (this.head < this.queue.length) {
        const item = this.queue[this.head] as StreamItem;
        this.queue[this.head] = undefined as never;
        this.head++;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        if (this.paused && this.queue.length - this.head <= this.highWater / 2) {
          this.paused = false;
          this.connection?.stream.resume();
        }
        return item;
      }
      this.throwIfFailed();
      if (this.ended || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  /** Everything up to `lsn` is durable downstream: the slot may release it. */
  acknowledge(lsn: bigint): void {
    if (lsn <= this.acked) return;
    this.acked = lsn;
    this.sendStatus(false);
  }

  /** Items received and not yet taken. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  get acknowledged(): bigint {
    return this.acked;
  }

  private sendStatus(replyRequested: boolean): void {
    if (!this.connection) return;
    const b = Buffer.alloc(34);
    b[0] = 0x72; // 'r'
    b.writeBigUInt64BE(this.acked, 1);
    b.writeBigUInt64BE(this.acked, 9);
    b.writeBigUInt64BE(this.acked, 17);
    b.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    b[33] = replyRequested ? 1 : 0;
    try {
      this.connection.sendCopyFromChunk(b);
    } catch {
      // A broken connection reports itself through the client's error event.
    }
  }

  /** Sends the last status and closes the connection. */
  async close(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.sendStatus(false);
    const client = this.client;
    this.client = undefined;
    this.connection = undefined;
    this.ended = true;
    this.wake();
    await client?.end().catch(() => undefined);
  }
}

/** A replication error as a CdcError: a lost slot or removed WAL names the slot and the fix. */
export function sourceError(err: unknown, slot: string): CdcError {
  const e = err as { message?: string; code?: string };
  const message = e.message ?? String(err);
  if (
    e.code === '42704' ||
    /replication slot .* does not exist/.test(message) ||
    /requested WAL segment .* has already been removed/.test(message) ||
    /can no longer get changes from replication slot|cannot read from logical replication slot .* invalidated/.test(
      message,
    )
  ) {
    return new CdcError(
      'SOURCE_POSITION_LOST',
      `replication slot ${slot} is gone or has lost the WAL it needs (${message}). Changes since the last acknowledged position cannot be streamed: set snapshot: when_needed to take a new snapshot automatically, or drop the slot (SELECT pg_drop_replication_slot('${slot}')) and restart with snapshot: initial`,
      { context: { slot }, cause: err },
    );
  }
  if (e.code === '42501' || /permission denied|must be superuser or replication role/.test(message)) {
    return new CdcError(
      'SOURCE_PERMISSION_DENIED',
      `PostgreSQL refused logical replication on slot ${slot} (${message}): the user needs the REPLICATION attribute (ALTER ROLE … REPLICATION)`,
      { context: { slot }, cause: err },
    );
  }
  if (e.code === '55006' || /is active for PID/.test(message)) {
    return new CdcError(
      'SOURCE_UNAVAILABLE',
      `replication slot ${slot} is in use by another connection (${message}); another capture with the same slot is running, or the previous one has not exited yet`,
      { retriable: true, context: { slot }, cause: err },
    );
  }
  return new CdcError('SOURCE_UNAVAILABLE', `PostgreSQL replication on slot ${slot} failed: ${message}`, {
    retriable: true,
    context: { slot },
    cause: err,
  });
}
