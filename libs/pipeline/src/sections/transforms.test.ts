import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printableConfig } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { loadPipeline } from '../pipeline.ts';

function load(source: string[], env: NodeJS.ProcessEnv = {}) {
  const f = join(mkdtempSync(join(tmpdir(), 'cdc-transforms-')), 'pipeline.yaml');
  writeFileSync(
    f,
    [
      'kafka: { brokers: ["k:9092"] }',
      'registry: { url: "http://r:8081" }',
      'sources:',
      '  postgres:',
      '    - name: shop',
      '      connection: { database: shop, user: cdc }',
      ...source.map((l) => `      ${l}`),
    ].join('\n'),
  );
  return () => loadPipeline(f, env);
}

describe('per-table transforms in the pipeline file', () => {
  it('reads filters, column transforms and quality rules; the salt comes from the environment and is never printed', () => {
    const p = load(
      [
        'maskSalt: ${CDC_MASK_SALT}',
        'tables:',
        '  public.customers:',
        `    filter: "status <> 'deleted'"`,
        '    columns: { exclude: [ssn], rename: { email_address: email }, mask: { phone: hash, name: { truncate: 1 } } }',
        '    quality:',
        '      - { rule: not_null, column: email_address, action: quarantine }',
        '      - { rule: range, column: age, min: 0, max: 150 }',
      ],
      { CDC_MASK_SALT: 'a-salt-of-sixteen-chars' },
    )();
    const shop = p.sources.postgres[0];
    expect(shop?.tables['public.customers']?.quality).toEqual([
      { rule: 'not_null', column: 'email_address', action: 'quarantine' },
      { rule: 'range', column: 'age', min: 0, max: 150, action: 'count' },
    ]);
    expect(shop?.maskSalt).toBe('a-salt-of-sixteen-chars');
    expect(printableConfig(p)).not.toContain('a-salt-of-sixteen-chars');
  });

  it('names the key and the problem of a bad entry, and the closest key of a typo', () => {
    const message = (lines: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        load(lines, env)();
      } catch (err) {
        return (err as Error).message;
      }
      return 'loaded';
    };
    expect(message(['tables:', '  orders: { filter: "amount >" }'])).toContain(
      'sources.postgres.0.tables.orders.filter: unexpected the end of the expression at character 9 of "amount >"',
    );
    expect(message(['tables:', '  orders: { fliter: "amount > 1" }'])).toMatch(
      /sources\.postgres\.0\.tables\.orders\.fliter: unknown key; did you mean filter\?/,
    );
    expect(message(['tables:', '  orders: { quality: [{ rule: range, colum: amount, min: 0 }] }'])).toMatch(
      /colum: unknown key; did you mean column\?/,
    );
    expect(message(['tables:', '  orders: { columns: { mask: { email: hash } } }'])).toContain(
      'sources.postgres.0.tables.orders.columns.mask.email: a hash mask needs the source key maskSalt',
    );
    expect(
      message(['include: [public.orders]', 'tables:', '  public.custmers: { filter: "a = 1" }']),
    ).toContain('public.custmers is not captured: add it to include');
  });
});
