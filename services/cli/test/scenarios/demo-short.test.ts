/**
 * demo-short: `npm run demo -- --duration 15` on a small shop with the change generator on
 * ends with `cdc verify` passing: every PostgreSQL table and every MongoDB collection of the demo
 * shop, after inserts, updates and deletes during the run, is in ClickHouse row for row (count
 * and checksum; MongoDB documents keyed by `_id`), the three analytics queries (revenue per
 * region per minute, top products, cart sessions) print rows from the processor's aggregates, and
 * every window of every aggregate equals a GROUP BY over the verified replica.
 * No service crashed or was restarted, and the demo's last line says it passed.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../../..');

it('runs the demo with the generator on and verify passes', { timeout: 300_000 }, () => {
  const r = spawnSync(
    process.execPath,
    // A catch-up bound that ends the demo (with its reasons) before this test's own timeout.
    ['scripts/demo.ts', '--duration', '15', '--rate', '30', '--scale', '0.02', '--timeout', '120'],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CDC_DEMO_DB: 'cdc_demo_test', CDC_DEMO_CLICKHOUSE_HTTP_PORT: '18125' },
      timeout: 280_000,
    },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  expect(out, out.slice(-4000)).toMatch(/verify: OK — 6 table\(s\) match/);
  expect(out).toMatch(/generator stopped: \{"transactions":[1-9]/);
  for (const t of ['customers', 'products', 'orders', 'order_items'])
    expect(out).toMatch(new RegExp(`ok +public\\.${t} +[1-9]`));
  for (const c of ['carts', 'clicks']) expect(out).toMatch(new RegExp(`ok +cdc_demo_test\\.${c} +[1-9]`));
  for (const agg of ['revenue_by_region_1m', 'top_products_15m', 'cart_sessions'])
    expect(out).toMatch(new RegExp(`\\(([1-9][0-9]*) row\\(s\\) from demo\\.demo_agg_${agg}_current\\)`));
  // The live view's figures come from the services' /metrics.
  expect(out).toMatch(/captured records\/s +\d+ .*capture-postgres \d+, capture-mongo \d+/);
  expect(out).toMatch(/end-to-end latency +p50 /);
  // The demo's transforms and quality rules, in the live view (the captures' /metrics).
  expect(out).toMatch(/public\.customers: passed [1-9]\d*, filtered 0, quarantined 0/);
  expect(out).toMatch(/public\.orders: passed [1-9]\d*, .*violations: order-total-positive \(count\) [1-9]/);
  // No service crashed, not even one the supervisor restarted; every one was ready at the end.
  expect(out).not.toMatch(/crashed \d+×|restarted \d+×|crash loop|NOT READY|not running at the end/);
  expect(out).toMatch(/services at the end: .*sink-clickhouse ready/);
  expect(out).toMatch(/pipeline caught up in /);
  expect(out).toMatch(
    /\ndemo passed in \d+ s: verify passed, 3 analytics queries printed rows, 3 aggregates equal their source, no service crashed\n/,
  );
  // Every window of every aggregate equals a GROUP BY over the verified replica.
  for (const agg of ['revenue_by_region_1m', 'top_products_15m', 'cart_sessions'])
    expect(out).toMatch(
      new RegExp(
        `${agg}: ([\\d,]+) \\w+ in aggregates = \\1 in the source \\([\\d,]+ windows × groups, 0 differ\\)`,
      ),
    );
  expect(out).not.toMatch(/demo FAILED/);
  expect(r.status).toBe(0);
});
