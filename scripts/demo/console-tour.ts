/**
 * `node scripts/demo/console-tour.ts [--state-dir .stack/pipeline-demo] [--out docs/console] [--runs 5]`:
 * with the demo running (`npm run demo`), logs in to its console as the demo operator in
 * Debian's Chromium (puppeteer-core), measures how long the overview takes to load (navigation
 * start → pipeline graph and the three charts drawn; median and worst of `--runs`), and saves a
 * screenshot of every page. Exits 1 on any console error in the page.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { readDemoTokens, waitControlUrl } from './control-access.ts';

const root = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string', default: '.stack/pipeline-demo' },
    out: { type: 'string', default: 'test-artifacts/console-demo' },
    runs: { type: 'string', default: '5' },
  },
});
const stateDir = resolve(root, values['state-dir']);
const out = resolve(root, values.out);
const runs = Math.max(1, Number(values.runs));
mkdirSync(out, { recursive: true });
const url = await waitControlUrl(stateDir, 10_000);
if (!url) {
  process.stderr.write(`console-tour: no control URL in ${stateDir}/run/control.url: is the demo running?\n`);
  process.exit(2);
}
const tokens = readDemoTokens(stateDir);
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const errors: string[] = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${(e as Error).message}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('input[name=token]');
  await page.type('input[name=token]', tokens.operator);
  await page.click('button[type=submit]');
  await page.waitForSelector('header .who');
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await page.goto(`${url}#/overview`);
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('svg.graph g.node', { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 3);
    times.push(await page.evaluate(() => performance.now()));
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    `overview load (navigation start → graph and charts drawn), ${runs} runs: median ${times[Math.floor(times.length / 2)]?.toFixed(0)} ms, worst ${times.at(-1)?.toFixed(0)} ms\n`,
  );
  await sleep(20_000); // some points on the charts
  await page.screenshot({ path: join(out, 'overview.png'), fullPage: true });
  for (const p of ['tables', 'dead-letters', 'verify']) {
    await page.goto(`${url}#/${p}`);
    await sleep(3_000);
    await page.screenshot({ path: join(out, `${p}.png`), fullPage: true });
  }
  await page.goto(`${url}#/sql`);
  await page.waitForSelector('button[data-action=run-sql]');
  await page.click('button[data-action=run-sql]');
  await sleep(3_000);
  await page.screenshot({ path: join(out, 'sql.png'), fullPage: true });
  process.stdout.write(`screenshots in ${out}\n`);
} finally {
  await browser.close();
}
if (errors.length > 0) {
  process.stderr.write(`console errors:\n  ${errors.join('\n  ')}\n`);
  process.exit(1);
}
