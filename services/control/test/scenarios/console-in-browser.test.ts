/**
 * console-in-browser: the web console in Debian's Chromium (puppeteer-core; its own browser
 * download cannot work here), against a pipeline `cdc up` runs (capture-postgres and the control
 * service, supervised, metrics scraped as in production):
 *
 * - a viewer logs in, sees every table with its state, and no action button;
 * - an operator pauses a table and sees it paused while nothing of it reaches Kafka, resumes it
 *   and sees every held change arrive; resyncs it and sees its captured count grow by the table
 *   and its progress bar fill (the incremental snapshot's progress, as the snapshot metrics);
 * - a row a quality rule quarantined shows in the dead-letter browser, is fixed in the source,
 *   replayed from the console and leaves the list;
 * - the verify page: a viewer sees no action; an operator runs verify and starts and stops the
 *   continuous verifier, and sees each outcome (here a problem: this pipeline has no ClickHouse);
 * - no console error in the page, at any step; a screenshot of each page in
 *   test-artifacts/console/ (CDC_CONSOLE_SHOTS=docs/console writes the set the docs show);
 * - the overview's load time (navigation start → graph and charts drawn) is printed.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { heldTopic } from '@cdc/capture';
import { down, StateDir, up } from '@cdc/operate';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  consume,
  endpoints,
  scenario,
  uniqueName,
  waitFor,
  waitStreaming,
} from '../../../capture-postgres/test/scenarios/harness.ts';
import { tokenHash } from '../../src/tokens.ts';

const ROOT = resolve(import.meta.dirname, '../../../..');
const SHOTS = resolve(ROOT, process.env.CDC_CONSOLE_SHOTS ?? 'test-artifacts/console');
const CHROMIUM = '/usr/bin/chromium';
const s = scenario('web18');
const orders = `${s.name}_orders`.toLowerCase();
const customers = `${s.name}_customers`.toLowerCase();
const signalTopic = `__${s.name}.signals`;
const auditTopic = `${s.name}.audit`;
const VIEWER = uniqueName('viewer-token');
const OPERATOR = uniqueName('operator-token');
const state = new StateDir(mkdtempSync(join(tmpdir(), 'web18-')));
const errors: string[] = [];
let browser: Browser | undefined;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const db = await connectPg();
  try {
    await db.query(`CREATE TABLE ${orders} (id int8 PRIMARY KEY, amount int NOT NULL)`);
    await db.query(`CREATE TABLE ${customers} (id int8 PRIMARY KEY, email text)`);
    await db.query(`INSERT INTO ${orders} SELECT g, g FROM generate_series(1, 500) g`);
    await db.query(
      `INSERT INTO ${customers} SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 20) g`,
    );
  } finally {
    await db.end();
  }
  const source = s.source({
    include: [orders, customers],
    tables: {
      [`public.${customers}`]: { quality: [{ rule: 'not_null', column: 'email', action: 'quarantine' }] },
    },
  });
  const config = join(state.dir, 'pipeline.json');
  writeFileSync(
    config,
    JSON.stringify({
      kafka: { brokers: endpoints.kafka.brokers },
      registry: { url: endpoints.registry.url },
      sources: { postgres: [source] },
      control: {
        port: 0,
        signalTopic,
        auditTopic,
        tokens: [
          { name: 'vera', role: 'viewer', sha256: tokenHash(VIEWER) },
          { name: 'otto', role: 'operator', sha256: tokenHash(OPERATOR) },
        ],
      },
      telemetry: { http: { port: 0 } },
    }),
  );
  const r = await up(config, state, () => undefined);
  expect(r.failed).toEqual([]);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await down(state, () => undefined);
  await cleanup(
    s,
    [orders, customers],
    [
      s.topicOf(orders),
      s.topicOf(customers),
      heldTopic(s.prefix),
      `${s.prefix}.quarantine`,
      signalTopic,
      auditTopic,
    ],
  );
}, 120_000);

function readUrl(): string | undefined {
  try {
    return readFileSync(join(state.runDir, 'control.url'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
function controlUrl(): string {
  const url = readUrl();
  if (!url) throw new Error('the control service has not written its URL');
  return url;
}

async function openPage(): Promise<Page> {
  const page = await (browser as Browser).newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${(e as Error).message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  return page;
}

async function logIn(page: Page, token: string): Promise<void> {
  await page.goto(controlUrl(), { waitUntil: 'load' });
  await page.waitForSelector('input[name=token]');
  await page.type('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('header .who');
}

/** The state shown for a table, from the tables page. */
const shownState = (page: Page, table: string) =>
  page.$eval(`tr[data-table="public.${table}"]`, (tr) => tr.getAttribute('data-state')).catch(() => null);
/** The "captured" column of a table. */
const shownCaptured = (page: Page, table: string) =>
  page
    .$eval(`tr[data-table="public.${table}"] td:nth-child(5)`, (td) =>
      Number((td.textContent ?? '').replace(/,/g, '')),
    )
    .catch(() => Number.NaN);

describe('the console in Chromium', () => {
  it('lets a viewer watch and an operator pause, resume, resync and replay, with no console error', async () => {
    await waitFor('control URL', 60_000, () => readUrl() !== undefined);

    // A viewer: every table with its state, no actions.
    const viewer = await openPage();
    await logIn(viewer, VIEWER);
    expect(await viewer.$eval('header .who', (e) => e.getAttribute('data-role'))).toBe('viewer');
    await viewer.goto(`${controlUrl()}#/tables`);
    await viewer.waitForFunction(
      (a: string, b: string) =>
        ['streaming', 'snapshotting'].includes(
          document.querySelector(`tr[data-table="public.${a}"]`)?.getAttribute('data-state') ?? '',
        ) &&
        ['streaming', 'snapshotting'].includes(
          document.querySelector(`tr[data-table="public.${b}"]`)?.getAttribute('data-state') ?? '',
        ),
      { timeout: 90_000 },
      orders,
      customers,
    );
    expect(await viewer.$$('button[data-action=pause]')).toHaveLength(0);
    expect(await viewer.$$('button[data-action=resync]')).toHaveLength(0);
    await viewer.screenshot({ path: join(SHOTS, 'tables-viewer.png'), fullPage: true });

    // The overview: how long until the graph and the three charts are drawn.
    await viewer.goto(`${controlUrl()}#/overview`);
    await viewer.reload({ waitUntil: 'load' });
    await viewer.waitForSelector('svg.graph g.node');
    await viewer.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 3);
    const loadMs = await viewer.evaluate(() => performance.now());
    process.stdout.write(
      `overview page load (navigation start → graph and charts drawn): ${loadMs.toFixed(0)} ms\n`,
    );
    await waitFor(
      'a few points on the charts',
      20_000,
      async () => (await viewer.$$('svg.graph g.node')).length >= 3,
    );
    await new Promise((r) => setTimeout(r, 5_000));
    await viewer.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });

    // Verify: a viewer sees the page and no action.
    await viewer.goto(`${controlUrl()}#/verify`);
    await viewer.waitForSelector('[data-continuous=stopped]');
    expect(await viewer.$$('button[data-action="run verify"]')).toHaveLength(0);
    expect(await viewer.$$('button[data-action="start continuous verify"]')).toHaveLength(0);
    await viewer.close();

    // An operator: pause, resume, resync.
    const op = await openPage();
    await logIn(op, OPERATOR);
    await op.goto(`${controlUrl()}#/tables`);
    const pauseButton = `tr[data-table="public.${orders}"] button[data-action=pause]`;
    await op.waitForSelector(pauseButton, { timeout: 60_000 });
    await waitFor('orders snapshotted', 60_000, async () => (await shownCaptured(op, orders)) >= 500);
    await op.click(pauseButton);
    await op.waitForSelector(`tr[data-table="public.${orders}"][data-state=paused]`, { timeout: 60_000 });
    await op.screenshot({ path: join(SHOTS, 'tables-operator-paused.png'), fullPage: true });
    const db = await connectPg();
    try {
      await db.query(`INSERT INTO ${orders} SELECT g, g FROM generate_series(501, 600) g`);
      await db.query(`UPDATE ${orders} SET amount = amount + 1 WHERE id <= 50`);
      const held = await consume([s.topicOf(orders)], { expected: 501, timeoutMs: 4_000, settleMs: 0 });
      expect(held.length).toBe(500);
      expect(await shownState(op, orders)).toBe('paused');
      await op.click(`tr[data-table="public.${orders}"] button[data-action=resume]`);
      await op.waitForSelector(`tr[data-table="public.${orders}"][data-state=streaming]`, {
        timeout: 60_000,
      });
      const released = await consume([s.topicOf(orders)], {
        expected: 650,
        timeoutMs: 60_000,
        settleMs: 1_000,
      });
      expect(released.length).toBe(650);
      await waitFor(
        'the console counts the released changes',
        30_000,
        async () => (await shownCaptured(op, orders)) >= 650,
      );

      // Resync: the table is read again (600 snapshot records more).
      await op.click(`tr[data-table="public.${orders}"] button[data-action=resync]`);
      await waitFor(
        'the console counts the resync',
        90_000,
        async () => (await shownCaptured(op, orders)) >= 1250,
      );
      // Its progress bar: the resync's rows read of the table's (600 read, 600 in the table).
      await waitFor('the resync progress bar is full', 30_000, async () => {
        const title = await op
          .$eval(`tr[data-table="public.${orders}"] .progress`, (e) => e.getAttribute('title'))
          .catch(() => null);
        return title === '600 / 600';
      });
      await op.screenshot({ path: join(SHOTS, 'tables-operator-resynced.png'), fullPage: true });

      // A dead letter: a customer without an e-mail is quarantined. The capture restarts (the
      // supervisor starts it again), so its entry is no longer resolved by the next good change
      // of that row: once the row is fixed, the entry stays until it is replayed from the console.
      await db.query(`INSERT INTO ${customers} VALUES (21, NULL)`);
      await op.goto(`${controlUrl()}#/dead-letters`);
      const entry = `[data-dead-letters="public.${customers}"]`;
      await op.waitForSelector(entry, { timeout: 60_000 });
      await op.screenshot({ path: join(SHOTS, 'dead-letters.png'), fullPage: true });
      const pid = state.read()?.services['capture-postgres']?.pid as number;
      process.kill(pid, 'SIGTERM');
      await waitFor('the capture restarted', 90_000, () => {
        const now = state.read()?.services['capture-postgres']?.pid;
        return now !== undefined && now > 0 && now !== pid;
      });
      await waitStreaming(s, 90_000);
      await db.query(`UPDATE ${customers} SET email = 'c21@example.com' WHERE id = 21`);
      await consume([s.topicOf(customers)], { expected: 21, timeoutMs: 60_000, settleMs: 0 });
      expect(await op.$(entry)).not.toBeNull();
      await op.click(`${entry} button[data-action=replay]`);
      await op.waitForFunction((sel: string) => !document.querySelector(sel), { timeout: 60_000 }, entry);
      await op.screenshot({ path: join(SHOTS, 'dead-letters-replayed.png'), fullPage: true });
    } finally {
      await db.end();
    }

    // Verify from the console. This pipeline has no ClickHouse target, so every run reports that
    // problem: the page shows it, for a run and for the continuous verifier it starts and stops.
    await op.goto(`${controlUrl()}#/verify`);
    await op.click('button[data-action="run verify"]');
    await op.waitForSelector('[data-verify=failed]', { timeout: 60_000 });
    expect(await op.$eval('[data-verify=failed]', (e) => e.textContent)).toMatch(
      /could not compare everything: 1 problem\(s\)\.the pipeline file has no clickhouse section: nothing to verify against/,
    );
    await op.click('button[data-action="start continuous verify"]');
    await op.waitForSelector('[data-continuous=running]', { timeout: 30_000 });
    await op.waitForSelector('pre[data-continuous-line]', { timeout: 60_000 });
    expect(await op.$eval('pre[data-continuous-line]', (e) => e.textContent)).toMatch(
      /^verify: run 1: FAILED — .*problems: .*no clickhouse section/,
    );
    await op.screenshot({ path: join(SHOTS, 'verify.png'), fullPage: true });
    await op.click('button[data-action="stop continuous verify"]');
    await op.waitForSelector('[data-continuous=stopped]', { timeout: 60_000 });
    await op.close();
    expect(errors).toEqual([]);
  });
});
