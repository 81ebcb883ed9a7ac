/**
 * The web console: log in with an API token, then the overview (the pipeline graph with live
 * rates, throughput, lag and latency charts), the tables (state, snapshot progress, lag, actions),
 * the dead letters (replay, discard), verify and a read-only SQL box. Actions are hidden for
 * roles that may not do them (the API refuses them anyway).
 */
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import {
  api,
  can,
  type DeadLetter,
  type PipelineGraph,
  type Principal,
  type RatePoint,
  type TableView,
  token,
} from './api.ts';
import { TimeChart } from './charts.tsx';
import { GraphView } from './graph.tsx';
import './style.css';

type Page = 'overview' | 'tables' | 'dead-letters' | 'verify' | 'sql';
const PAGES: [Page, string][] = [
  ['overview', 'Overview'],
  ['tables', 'Tables'],
  ['dead-letters', 'Dead letters'],
  ['verify', 'Verify'],
  ['sql', 'SQL'],
];

const pageOf = (hash: string): Page => {
  const p = hash.replace(/^#\/?/, '') as Page;
  return PAGES.some(([k]) => k === p) ? p : 'overview';
};

/** Calls `load` now and every `ms` while mounted; the last result or error. */
function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (d) => {
          if (!live) return;
          setData(d);
          setError(undefined);
        },
        (e: Error) => {
          if (live) setError(e.message);
        },
      );
    run();
    const t = setInterval(run, ms);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [tick, ...deps]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: digits });
/** Time left as `1h02m`, `3m05s` or `42s`. */
const eta = (seconds: number) => {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};
const secs = (s: number | null | undefined) =>
  s === null || s === undefined ? '—' : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;

function Login({ onLogin }: { onLogin: (p: Principal) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    token.set(value.trim());
    try {
      onLogin(await api<Principal>('GET', '/api/whoami'));
    } catch (err) {
      token.clear();
      setError((err as Error).message);
    }
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>CDC console</h1>
      <label>
        API token
        <input
          type="password"
          name="token"
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit">Log in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function Overview() {
  const graph = usePoll(() => api<PipelineGraph>('GET', '/api/pipeline'), 2_000);
  const series = usePoll(() => api<RatePoint[]>('GET', '/api/metrics/series'), 2_000);
  const points = series.data ?? [];
  const times = useMemo(() => points.map((p) => p.at / 1000), [points]);
  const pick = (k: keyof RatePoint) => points.map((p) => p[k] as number | null);
  return (
    <section>
      <h2>Pipeline</h2>
      {graph.error && <p class="error">{graph.error}</p>}
      <div class="graph-box">{graph.data ? <GraphView graph={graph.data} /> : <p>loading…</p>}</div>
      <div class="charts">
        <TimeChart
          title="Throughput"
          unit="records/s"
          times={times}
          series={[
            { label: 'captured', color: '#2563eb', values: pick('captured') },
            { label: 'written', color: '#16a34a', values: pick('written') },
          ]}
        />
        <TimeChart
          title="Sink lag"
          unit="records"
          times={times}
          series={[{ label: 'lag', color: '#d97706', values: pick('sinkLag') }]}
        />
        <TimeChart
          title="End-to-end latency"
          unit="seconds"
          times={times}
          series={[
            { label: 'p50', color: '#7c3aed', values: pick('p50') },
            { label: 'p99', color: '#dc2626', values: pick('p99') },
          ]}
        />
      </div>
    </section>
  );
}

function Action(props: {
  label: string;
  run: () => Promise<unknown>;
  onDone: (msg: string) => void;
  confirm?: string;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      disabled={busy}
      data-action={props.label.toLowerCase()}
      onClick={async () => {
        if (props.confirm && !window.confirm(props.confirm)) return;
        setBusy(true);
        try {
          await props.run();
          props.onDone(`${props.label}: done`);
        } catch (err) {
          props.onDone(`${props.label}: ${(err as Error).message}`);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.label}
    </button>
  );
}

function Tables({ me }: { me: Principal }) {
  const tables = usePoll(() => api<TableView[]>('GET', '/api/tables'), 2_000);
  const [note, setNote] = useState<string>();
  const act = (t: TableView, what: string) => () =>
    api('POST', `/api/tables/${encodeURIComponent(t.source)}/${encodeURIComponent(t.table)}/${what}`, {});
  const done = (msg: string) => {
    setNote(msg);
    tables.refresh();
  };
  return (
    <section>
      <h2>Tables</h2>
      {note && <p class="note">{note}</p>}
      {tables.error && <p class="error">{tables.error}</p>}
      <table class="tables">
        <thead>
          <tr>
            <th>source</th>
            <th>table</th>
            <th>state</th>
            <th>snapshot</th>
            <th>captured</th>
            <th>written</th>
            <th>rate/s</th>
            <th>lag</th>
            <th>latency p50 / p99</th>
            <th>dead letters</th>
            {can(me.role, 'operator') && <th>actions</th>}
          </tr>
        </thead>
        <tbody>
          {(tables.data ?? []).map((t) => (
            <tr key={t.topic} data-table={t.table} data-state={t.state}>
              <td>{t.source}</td>
              <td title={t.topic}>{t.table}</td>
              <td>
                <span class={`state ${t.state}`}>{t.state}</span>
                {t.error && <div class="error">{t.error}</div>}
              </td>
              <td>
                {t.snapshot ? (
                  <>
                    <div class="progress" title={`${fmt(t.snapshot.done)} / ${fmt(t.snapshot.estimated)}`}>
                      <div class="bar" style={{ width: `${t.snapshot.percent ?? 0}%` }} />
                      <span>
                        {t.snapshot.percent === null ? fmt(t.snapshot.done) : `${t.snapshot.percent}%`}
                      </span>
                    </div>
                    {t.state === 'snapshotting' && t.snapshot.rowsPerSecond !== null && (
                      <div class="snapshot-rate">
                        {fmt(t.snapshot.rowsPerSecond)} rows/s
                        {t.snapshot.etaSeconds !== null && ` · ETA ${eta(t.snapshot.etaSeconds)}`}
                      </div>
                    )}
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td>{fmt(t.captured)}</td>
              <td>{fmt(t.written)}</td>
              <td>
                {fmt(t.capturedPerS, 1)} → {fmt(t.writtenPerS, 1)}
              </td>
              <td>{fmt(t.lag)}</td>
              <td>{t.latency ? `${secs(t.latency.p50)} / ${secs(t.latency.p99)}` : '—'}</td>
              <td>
                {Object.entries(t.deadLetters)
                  .map(([r, n]) => `${r}: ${n}`)
                  .join(', ') || '0'}
              </td>
              {can(me.role, 'operator') && (
                <td class="actions">
                  {t.state === 'paused' ? (
                    <Action label="Resume" run={act(t, 'resume')} onDone={done} />
                  ) : (
                    <Action label="Pause" run={act(t, 'pause')} onDone={done} />
                  )}
                  {t.kind === 'postgres' && <Action label="Resync" run={act(t, 'resync')} onDone={done} />}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function DeadLetters({ me }: { me: Principal }) {
  const list = usePoll(() => api<DeadLetter[]>('GET', '/api/dead-letters'), 5_000);
  const [note, setNote] = useState<string>();
  const [open, setOpen] = useState<string>();
  const tables = [...new Set((list.data ?? []).map((d) => d.table))];
  const done = (msg: string) => {
    setNote(msg);
    list.refresh();
  };
  return (
    <section>
      <h2>Dead letters</h2>
      <p class="hint">
        Rows a quality rule quarantined. Fix them in the source, then replay: they pass the rules again.
      </p>
      {note && <p class="note">{note}</p>}
      {list.error && <p class="error">{list.error}</p>}
      {tables.length === 0 && list.data && <p>No dead letters.</p>}
      {tables.map((table) => (
        <div class="dl-table" key={table} data-dead-letters={table}>
          <h3>
            {table} ({(list.data ?? []).filter((d) => d.table === table).length})
            {can(me.role, 'operator') && (
              <Action
                label="Replay"
                run={() => api('POST', `/api/dead-letters/${encodeURIComponent(table)}/replay`, {})}
                onDone={done}
              />
            )}
            {can(me.role, 'admin') && (
              <Action
                label="Discard"
                confirm={`Drop every dead letter of ${table}?`}
                run={() => api('POST', `/api/dead-letters/${encodeURIComponent(table)}/discard`, {})}
                onDone={done}
              />
            )}
          </h3>
          <ul>
            {(list.data ?? [])
              .filter((d) => d.table === table)
              .map((d) => (
                <li key={d.id}>
                  <button
                    type="button"
                    class="link"
                    onClick={() => setOpen(open === d.id ? undefined : d.id)}
                  >
                    key {d.key}: {d.rules.join(', ')}
                  </button>
                  {open === d.id && <pre>{JSON.stringify(d, null, 2)}</pre>}
                </li>
              ))}
          </ul>
        </div>
      ))}
    </section>
  );
}

interface VerifyTable {
  source: string;
  table: string;
  match: boolean;
  sourceRows?: number;
  clickhouseRows?: number;
  differing?: number;
  method?: string;
  reverified?: number;
  note?: string;
}

interface VerifyReport {
  ok: boolean;
  elapsedMs: number;
  tables: VerifyTable[];
  problems: string[];
  repairs: { source: string; table: string; ranges: number; deletes: number; kind?: string }[];
}

interface ContinuousState {
  running: boolean;
  rowsPerSecond: number;
  intervalMs: number;
  runs: number;
  lastRunAt: string | null;
  lastLine: string | null;
  tables: {
    source: string;
    table: string;
    match: boolean;
    lastingDifferences: number;
    differedLastRun: boolean;
    sourceRows?: number;
    lastRunAt: string;
  }[];
}

/** One verify report: per table its counts and outcome, then what a repair asked and the problems. */
function VerifyResult({ report }: { report: VerifyReport }) {
  const differing = report.tables.filter((t) => !t.match).length;
  return (
    <div data-verify={report.ok ? 'passed' : 'failed'}>
      <p class={report.ok ? 'ok' : 'error'}>
        {report.ok
          ? `The replica matches its sources (${report.tables.length} table(s), ${(report.elapsedMs / 1000).toFixed(1)} s).`
          : differing > 0
            ? `Differences found: ${differing} of ${report.tables.length} table(s) differ${report.problems.length > 0 ? `, ${report.problems.length} problem(s)` : ''}.`
            : `Verify could not compare everything: ${report.problems.length} problem(s).`}
      </p>
      {report.tables.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>table</th>
              <th>source rows</th>
              <th>ClickHouse rows</th>
              <th>differing</th>
              <th>how</th>
              <th>outcome</th>
            </tr>
          </thead>
          <tbody>
            {report.tables.map((t) => (
              <tr key={`${t.source}.${t.table}`} data-verify-table={t.table} data-match={String(t.match)}>
                <td>
                  {t.source}: {t.table}
                </td>
                <td>{fmt(t.sourceRows)}</td>
                <td>{fmt(t.clickhouseRows)}</td>
                <td>{fmt(t.differing)}</td>
                <td>
                  {t.reverified !== undefined ? `${t.reverified} repaired key(s) again` : (t.method ?? '—')}
                </td>
                <td class={t.match ? 'ok' : 'error'} title={t.note}>
                  {t.match ? 'match' : 'differs'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {report.repairs.length > 0 && (
        <ul data-verify-repairs>
          {report.repairs.map((r) => (
            <li key={`${r.source}.${r.table}`}>
              {r.table}: {r.ranges} {r.kind === 'keys' ? 'key(s)' : 'key range(s)'} re-read through the
              capture, {r.deletes} key(s) only in ClickHouse
            </li>
          ))}
        </ul>
      )}
      {report.problems.map((p) => (
        <p class="error" key={p}>
          {p}
        </p>
      ))}
    </div>
  );
}

function Verify({ me }: { me: Principal }) {
  const [report, setReport] = useState<VerifyReport>();
  const [note, setNote] = useState<string>();
  useEffect(() => {
    api<{ report: VerifyReport | null }>('GET', '/api/verify').then(
      (r) => setReport(r.report ?? undefined),
      () => undefined,
    );
  }, []);
  const continuous = usePoll(
    () => api<{ continuous: ContinuousState | null }>('GET', '/api/verify/continuous'),
    3_000,
  );
  const c = continuous.data?.continuous ?? null;
  const operator = can(me.role, 'operator');
  const run = async (body: Record<string, unknown>) =>
    setReport((await api<{ report: VerifyReport }>('POST', '/api/verify', body)).report);
  return (
    <section>
      <h2>Verify</h2>
      <p class="hint">
        Compares every captured table with its ClickHouse copy: counts and checksums computed in both
        databases, down to the differing keys. A repair re-reads those keys through the capture, so the fix
        travels through Kafka like any change.
      </p>
      {operator && <Action label="Run verify" run={() => run({})} onDone={setNote} />}
      {operator && report && !report.ok && report.tables.some((t) => !t.match) && (
        <Action
          label="Repair differences"
          confirm="Re-read the differing keys through the capture and verify them again?"
          run={() => run({ repair: true, timeoutS: 120 })}
          onDone={setNote}
        />
      )}
      {note && <p class="note">{note}</p>}
      {report ? <VerifyResult report={report} /> : <p>No report yet.</p>}

      <h3>Continuous verification</h3>
      {continuous.error && <p class="error">{continuous.error}</p>}
      {c?.running ? (
        <p data-continuous="running">
          Running: at most {fmt(c.rowsPerSecond)} rows/s, {fmt(c.intervalMs / 1000)} s between runs,{' '}
          {fmt(c.runs)} run(s) so far.
        </p>
      ) : (
        <p data-continuous="stopped">
          {c ? `Stopped after ${fmt(c.runs)} run(s).` : 'Not running.'} It verifies every table again and
          again at a rows/s budget; a table counts as differing once the same keys differ in two runs in a
          row.
        </p>
      )}
      {operator &&
        (c?.running ? (
          <Action
            label="Stop continuous verify"
            run={() => api('POST', '/api/verify/continuous/stop', {}).then(continuous.refresh)}
            onDone={setNote}
          />
        ) : (
          <Action
            label="Start continuous verify"
            run={() => api('POST', '/api/verify/continuous', {}).then(continuous.refresh)}
            onDone={setNote}
          />
        ))}
      {c?.lastLine && <pre data-continuous-line>{c.lastLine}</pre>}
      {c && c.tables.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>table</th>
              <th>rows</th>
              <th>last run</th>
              <th>outcome</th>
            </tr>
          </thead>
          <tbody>
            {c.tables.map((t) => (
              <tr key={`${t.source}.${t.table}`} data-continuous-table={t.table} data-match={String(t.match)}>
                <td>
                  {t.source}: {t.table}
                </td>
                <td>{fmt(t.sourceRows)}</td>
                <td>{new Date(t.lastRunAt).toLocaleTimeString()}</td>
                <td class={t.match ? 'ok' : 'error'}>
                  {t.match
                    ? t.differedLastRun
                      ? 'changed under the last run (checked again next run)'
                      : 'match'
                    : `${fmt(t.lastingDifferences)} row(s) differ in two runs in a row`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Sql() {
  const [sql, setSql] = useState(
    'SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() ORDER BY name',
  );
  const [rows, setRows] = useState<Record<string, unknown>[]>();
  const [error, setError] = useState<string>();
  const run = async () => {
    setError(undefined);
    try {
      setRows((await api<{ rows: Record<string, unknown>[] }>('POST', '/api/sql', { sql })).rows);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const cols = rows && rows.length > 0 ? Object.keys(rows[0] as object) : [];
  return (
    <section>
      <h2>SQL (read-only)</h2>
      <textarea
        name="sql"
        rows={4}
        value={sql}
        onInput={(e) => setSql((e.target as HTMLTextAreaElement).value)}
      />
      <div>
        <button type="button" data-action="run-sql" onClick={run}>
          Run
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      {rows && (
        <table class="result">
          <thead>
            <tr>
              {cols.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={String(i)}>
                {cols.map((c) => (
                  <td key={c}>{typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function App() {
  const [me, setMe] = useState<Principal>();
  const [checked, setChecked] = useState(false);
  const [page, setPage] = useState<Page>(pageOf(location.hash));
  useEffect(() => {
    const on = () => setPage(pageOf(location.hash));
    window.addEventListener('hashchange', on);
    if (token.get())
      api<Principal>('GET', '/api/whoami')
        .then(setMe, token.clear)
        .finally(() => setChecked(true));
    else setChecked(true);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const logout = useCallback(() => {
    token.clear();
    setMe(undefined);
  }, []);
  if (!checked) return null;
  if (!me) return <Login onLogin={setMe} />;
  return (
    <div class="app">
      <header>
        <strong>CDC console</strong>
        <nav>
          {PAGES.map(([k, label]) => (
            <a key={k} href={`#/${k}`} class={k === page ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" data-role={me.role}>
          {me.name} ({me.role})
          <button type="button" class="link" onClick={logout}>
            log out
          </button>
        </span>
      </header>
      <main>
        {page === 'overview' && <Overview />}
        {page === 'tables' && <Tables me={me} />}
        {page === 'dead-letters' && <DeadLetters me={me} />}
        {page === 'verify' && <Verify me={me} />}
        {page === 'sql' && <Sql />}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
