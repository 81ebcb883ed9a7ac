/**
 * The demo's analytics: the three aggregates the processor computes from the demo pipeline's
 * declarations (`infra/pipelines/demo.yaml`), read from the tables the sink upserts them into
 * (one row per group and window, the latest result; `<topic as a table name>_current`).
 */
import type { Pipeline } from '@cdc/pipeline';
import type { ServiceName } from '../../services/cli/src/services.ts';

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

/**
 * The processor keys its outputs with JSON text, not an Avro key record, so the sink keeps every
 * result it receives (`ORDER BY _change_id`) instead of upserting by group and window: the
 * latest result of a group and window is the one with the highest `(emittedAtMs, _version)`
 * (a group's results stay in one partition, in order).
 */
const LATEST = '(emittedAtMs, _version)';
const latest = (col: string, as = col) => `argMax(${col}, ${LATEST}) AS ${as}`;

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
      sql: `SELECT windowStartMs AS minute, region, ${latest('orders')}, ${latest('revenue')} FROM ${t}
             WHERE windowStartMs >= (SELECT max(windowStartMs) FROM ${t}) - INTERVAL 2 MINUTE
             GROUP BY minute, region ORDER BY minute DESC, revenue DESC LIMIT 15`,
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
      sql: `SELECT windowStartMs AS window_start, ${latest('windowEndMs', 'window_end')}, product, category, ${latest('units')}, ${latest('lines')}
              FROM ${t}
             WHERE windowStartMs = (SELECT min(windowStartMs) FROM ${t} WHERE windowEndMs > (SELECT max(windowStartMs) FROM ${t}))
             GROUP BY window_start, product_id, product, category ORDER BY units DESC, product LIMIT 5`,
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
      sql: `SELECT customerId AS customer, windowStartMs AS first_event, ${latest('windowEndMs', 'last_event')},
                   dateDiff('second', first_event, last_event) AS seconds, ${latest('cart_events')},
                   count() OVER () AS sessions
              FROM ${t} GROUP BY customer, first_event
             ORDER BY cart_events DESC, last_event DESC, customer LIMIT 5`,
      empty: 'no cart changed (is capture-mongo running?)',
    });
  }
  return out;
}
