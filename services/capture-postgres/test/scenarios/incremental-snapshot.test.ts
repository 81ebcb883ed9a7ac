/**
 * incremental-snapshot: a table added to the include list after the initial snapshot gets its
 * existing rows (`op: 'r'`, `source.snapshot: 'incremental'`) while the stream keeps flowing and
 * the table is updated concurrently; the capture is stopped mid-way and resumes from the last
 * committed chunk. Rows nobody touched arrive exactly once as 'r'; every key has at most one
 * 'r', its updates are all there and in order, and the 'r' carries the state of its place in
 * the sequence.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  consume,
  consumeUntilFinal,
  recordingLogger,
  runCapture,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const s = scenario('incsnap');
const first = `${s.name}_a`.toLowerCase();
const added = `${s.name}_b`.toLowerCase();
const ROWS = 6_000;
const HOT = 100; // keys 1..HOT are updated during the test, the others never
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await cleanup(s, [first, added], [s.topicOf(first), s.topicOf(added)]);
});

describe('incremental-snapshot', () => {
  it('snapshots a table added later exactly once, without losing or reordering concurrent changes', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${first} (id int PRIMARY KEY, seq int NOT NULL)`);
    await db.query(`INSERT INTO ${first} SELECT g, 0 FROM generate_series(1, 10) g`);
    await db.query(`CREATE TABLE ${added} (id int PRIMARY KEY, seq int NOT NULL, pad text)`);
    await db.query(`INSERT INTO ${added} SELECT g, 0, repeat('x', 50) FROM generate_series(1, ${ROWS}) g`);

    const one = runCapture(s.source({ include: [first] }));
    await waitStreaming(s);
    expect((await consume([s.topicOf(first)], { expected: 10, settleMs: 300 })).length).toBe(10);
    await one.stop();

    let loading = true;
    const load = (async () => {
      const w = await connectPg();
      try {
        while (loading) {
          // A steady load the capture keeps up with on a busy machine: a chunk waits for the
          // stream to reach its HIGH watermark, so a lagging stream slows the snapshot down.
          await w.query('BEGIN');
          await w.query(`UPDATE ${added} SET seq = seq + 1 WHERE id = $1`, [
            1 + Math.floor(Math.random() * HOT),
          ]);
          await w.query(`UPDATE ${first} SET seq = seq + 1 WHERE id = $1`, [
            1 + Math.floor(Math.random() * 10),
          ]);
          await w.query('COMMIT');
          // ~20 transactions/s: in a full CI run (after the heavy scenarios) 50/s kept the stream
          // behind for minutes, and with it every chunk's HIGH watermark.
          await sleep(50);
        }
      } finally {
        await w.end();
      }
    })();
    const source = s.source({ include: [first, added], snapshotOptions: { incrementalChunkRows: 200 } });
    try {
      const { logger, lines } = recordingLogger();
      const two = runCapture(source, logger);
      await waitFor('incremental snapshot started', 30_000, () =>
        lines.some((l) => l.msg === 'incremental snapshot started'),
      );
      await sleep(400);
      await two.stop();
      const interrupted = !lines.some((l) => l.msg === 'incremental snapshot finished');

      const third = recordingLogger();
      const three = runCapture(source, third.logger);
      // A stream that keeps up can finish all chunks before the stop takes effect: then the
      // third capture has nothing left to snapshot, and the checks below still apply.
      await waitFor('incremental snapshot finished', 180_000, () =>
        third.lines.some((l) => l.msg === (interrupted ? 'incremental snapshot finished' : 'streaming')),
      ).catch((err: unknown) => {
        const notes = third.lines.filter((l) => l.level !== 'info' || l.msg.startsWith('incremental'));
        throw new Error(`${String(err)}; the capture logged: ${JSON.stringify(notes.slice(-10))}`);
      });

      if (interrupted) {
        const resumed = third.lines.find((l) => l.msg === 'incremental snapshot resumed');
        expect(resumed?.lastKey).not.toBeNull();
      }
      await sleep(1_000);
      loading = false;
      await load;
      const got = await consumeUntilFinal(db, added, s.topicOf(added));
      await three.stop();

      const ids = got.map((r) => r.value.changeId);
      expect(new Set(ids).size).toBe(ids.length);
      const { rows } = await db.query<{ id: number; seq: number }>(
        `SELECT id, seq FROM ${added} ORDER BY id`,
      );
      expect(rows.length).toBe(ROWS);
      const byKey = new Map<number, typeof got>();
      for (const r of got) {
        const id = r.key?.id as number;
        byKey.set(id, [...(byKey.get(id) ?? []), r]);
      }
      const problems: string[] = [];
      for (const { id, seq } of rows) {
        const mine = (byKey.get(id) ?? []).sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
        const reads = mine.filter((r) => r.value.op === 'r');
        if (id > HOT) {
          // Never touched: exactly one snapshot row, and nothing else.
          if (mine.length !== 1 || reads.length !== 1 || mine[0]?.value.after?.seq !== 0)
            problems.push(
              `untouched key ${id}: ${JSON.stringify(mine.map((r) => [r.value.op, r.value.after?.seq]))}`,
            );
          continue;
        }
        if (reads.length > 1) problems.push(`key ${id}: ${reads.length} snapshot rows`);
        // Updates +1 each; a snapshot row repeats the state before it (or starts the key).
        let prev: number | undefined;
        for (const r of mine) {
          const v = r.value.after?.seq as number;
          const ok =
            r.value.op === 'r' ? prev === undefined || v === prev : prev === undefined || v === prev + 1;
          if (!ok)
            problems.push(`key ${id}: ${JSON.stringify(mine.map((x) => [x.value.op, x.value.after?.seq]))}`);
          prev = v;
        }
        if (prev !== seq) problems.push(`key ${id}: last seq ${prev}, table has ${seq}`);
      }
      expect(problems.slice(0, 10)).toEqual([]);
      const snap = got.filter((r) => r.value.op === 'r');
      expect(snap.every((r) => r.value.source.snapshot === 'incremental')).toBe(true);
    } finally {
      loading = false;
      await load.catch(() => undefined);
      await db.end();
    }
  }, 300_000);
});
