/**
 * The pgoutput logical replication protocol (version 1), decoded from the bytes of one
 * XLogData payload. Column values stay as the raw bytes of their TEXT form (what
 * `pgRowFromText` converts), and an unchanged TOASTed value is the `UNCHANGED_TOAST` marker,
 * never a string, so it can never be mistaken for data.
 *
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
 */

/** A TOASTed value that the update did not change and WAL does not carry. */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged TOAST value');
export type TupleValue = Uint8Array | null | typeof UNCHANGED_TOAST;

/** Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
const PG_EPOCH_USEC = 946_684_800_000_000n;

export interface BeginMessage {
  tag: 'begin';
  /** LSN of the commit record: the transaction's position in the stream. */
  finalLsn: bigint;
  /** Commit time, µs since the Unix epoch. */
  commitTimeUsec: bigint;
  xid: number;
}
export interface CommitMessage {
  tag: 'commit';
  commitLsn: bigint;
  /** End of the commit record: acknowledging it means the transaction is never sent again. */
  endLsn: bigint;
  commitTimeUsec: bigint;
}
export interface RelationColumn {
  /** 1 = part of the replica identity. */
  flags: number;
  name: string;
  typeOid: number;
  typmod: number;
}
export interface RelationMessage {
  tag: 'relation';
  oid: number;
  schema: string;
  name: string;
  /** d = default (primary key), n = nothing, f = full, i = index. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
}
export interface InsertMessage {
  tag: 'insert';
  oid: number;
  newTuple: TupleValue[];
}
export interface UpdateMessage {
  tag: 'update';
  oid: number;
  /** 'K': only the replica identity columns (others null); 'O': the whole old row (FULL). */
  oldKind: 'K' | 'O' | null;
  oldTuple: TupleValue[] | null;
  newTuple: TupleValue[];
}
export interface DeleteMessage {
  tag: 'delete';
  oid: number;
  oldKind: 'K' | 'O';
  oldTuple: TupleValue[];
}
export interface TruncateMessage {
  tag: 'truncate';
  cascade: boolean;
  restartIdentity: boolean;
  oids: number[];
}
export interface LogicalMessage {
  tag: 'message';
  transactional: boolean;
  lsn: bigint;
  prefix: string;
  content: Uint8Array;
}
export interface OriginMessage {
  tag: 'origin';
  lsn: bigint;
  name: string;
}
export interface TypeMessage {
  tag: 'type';
  oid: number;
  schema: string;
  name: string;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | RelationMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | OriginMessage
  | TypeMessage;

class Reader {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  u8(): number {
    return this.buf.readUInt8(this.pos++);
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new Error('pgoutput: unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Uint8Array {
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  char(): string {
    return String.fromCharCode(this.u8());
  }
}

function tuple(r: Reader): TupleValue[] {
  const n = r.i16();
  const values: TupleValue[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    switch (kind) {
      case 0x6e: // n
        values[i] = null;
        break;
      case 0x75: // u
        values[i] = UNCHANGED_TOAST;
        break;
      case 0x74: // t
      case 0x62: // b (binary mode is never requested; kept as bytes)
        values[i] = r.bytes(r.i32());
        break;
      default:
        throw new Error(`pgoutput: unknown tuple value kind 0x${kind.toString(16)}`);
    }
  }
  return values;
}

const time = (r: Reader) => r.i64() + PG_EPOCH_USEC;

/** Decodes one pgoutput message (the XLogData payload). */
export function decodePgoutput(buf: Buffer): PgoutputMessage {
  const r = new Reader(buf);
  const tag = r.char();
  switch (tag) {
    case 'B':
      return { tag: 'begin', finalLsn: r.u64(), commitTimeUsec: time(r), xid: r.u32() };
    case 'C': {
      r.u8();
      return { tag: 'commit', commitLsn: r.u64(), endLsn: r.u64(), commitTimeUsec: time(r) };
    }
    case 'R': {
      const oid = r.u32();
      const schema = r.cstring();
      const name = r.cstring();
      const replicaIdentity = r.char() as RelationMessage['replicaIdentity'];
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++)
        columns.push({ flags: r.u8(), name: r.cstring(), typeOid: r.u32(), typmod: r.i32() });
      return { tag: 'relation', oid, schema, name, replicaIdentity, columns };
    }
    case 'I': {
      const oid = r.u32();
      r.char(); // 'N'
      return { tag: 'insert', oid, newTuple: tuple(r) };
    }
    case 'U': {
      const oid = r.u32();
      let kind = r.char();
      let oldKind: 'K' | 'O' | null = null;
      let oldTuple: TupleValue[] | null = null;
      if (kind === 'K' || kind === 'O') {
        oldKind = kind;
        oldTuple = tuple(r);
        kind = r.char();
      }
      return { tag: 'update', oid, oldKind, oldTuple, newTuple: tuple(r) };
    }
    case 'D': {
      const oid = r.u32();
      const oldKind = r.char() as 'K' | 'O';
      return { tag: 'delete', oid, oldKind, oldTuple: tuple(r) };
    }
    case 'T': {
      const n = r.i32();
      const options = r.u8();
      const oids: number[] = [];
      for (let i = 0; i < n; i++) oids.push(r.u32());
      return { tag: 'truncate', cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, oids };
    }
    case 'M': {
      const flags = r.u8();
      const lsn = r.u64();
      const prefix = r.cstring();
      const content = r.bytes(r.i32());
      return { tag: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content };
    }
    case 'O':
      return { tag: 'origin', lsn: r.u64(), name: r.cstring() };
    case 'Y':
      return { tag: 'type', oid: r.u32(), schema: r.cstring(), name: r.cstring() };
    default:
      throw new Error(`pgoutput: unknown message type ${JSON.stringify(tag)}`);
  }
}
