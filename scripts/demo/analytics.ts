/**
 * The demo's analytics: the three aggregates the processor computes from the demo pipeline's
 * declarations (`infra/pipelines/demo.yaml`), read from the tables the sink upserts them into
 * (one row per group and window, the latest result: the processor keys its results by group and
 * window, and the sink upserts by that key and deletes on a tombstone; `<topic>_current`).
 */

import type { ServiceName } from '@cdc/operate';
import type { Pipeline } from '@cdc/pipeline';

export interface AnalyticsQuery {
  /** A short name for the demo's verdict (`"top products" printed no rows`). */
  name: string;
  title: string;
  table: string;
  sql: string;
  /** What an empty result means. */
  empty?: string;
  /** The services whose output it reads (a query over a service not in the checkout is skipped). */
  needs: ServiceName[];
}

/** The sink's table for a topic (non-word characters as `_`), its current-state view. */
export const currentTable = (database: string, topic: string) =>
  `${database}.${topic.replace(/[^A-Za-z0-9_]/g, '_')}_current`;

export function analyticsQueries(pipeline: Pipeline, database: string): AnalyticsQuery[] {
  const topic = (name: string) => pipeline.processing?.aggregate.find((a) => a.name === name)?.topic;
  const out: AnalyticsQuery[] = [];
  const revenue = topic('revenue_by_region_1m');
  if (revenue) {
    const t = currentTable(database, revenue);
    out.push({
      name: 'revenue per region',
      needs: ['processor'],
      title: 'revenue per region per minute (aggregate revenue_by_region_1m, the last 3 minutes)',
      table: t,
      sql: `SELECT windowStartMs AS minute, region, orders, revenue FROM ${t}
             WHERE windowStartMs >= (SELECT max(windowStartMs) FROM ${t}) - INTERVAL 2 MINUTE
             ORDER BY minute DESC, revenue DESC LIMIT 15`,
    });
  }
  const top = topic('top_products_15m');
  if (top) {
    const t = currentTable(database, top);
    // The 15-minute windows hop by 5 minutes: take the oldest one still open at the latest
    // window start, the one that covers the most of the last 15 minutes.
    out.push({
      name: 'top products',
      needs: ['processor'],
      title: 'top products by units (aggregate top_products_15m, the 15-minute window up to now)',
      table: t,
      sql: `SELECT windowStartMs AS window_start, windowEndMs AS window_end, product, category, units, lines
              FROM ${t}
             WHERE windowStartMs = (SELECT min(windowStartMs) FROM ${t} WHERE windowEndMs > (SELECT max(windowStartMs) FROM ${t}))
             ORDER BY units DESC, product LIMIT 5`,
    });
  }
  const carts = topic('cart_sessions');
  if (carts) {
    const t = currentTable(database, carts);
    out.push({
      name: 'cart sessions',
      needs: ['processor', 'capture-mongo'],
      title: 'cart sessions (aggregate cart_sessions: cart changes per customer, 5-minute gap; the busiest)',
      table: t,
      sql: `SELECT customerId AS customer, windowStartMs AS first_event, windowEndMs AS last_event,
                   dateDiff('second', first_event, last_event) AS seconds, cart_events,
                   count() OVER (PARTITION BY customerId) AS sessions
              FROM ${t}
             ORDER BY cart_events DESC, last_event DESC, customer LIMIT 5`,
      empty: 'no cart changed (is capture-mongo running?)',
    });
  }
  return out;
}
