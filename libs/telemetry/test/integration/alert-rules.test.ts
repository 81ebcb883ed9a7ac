/**
 * The Prometheus alerting rules (infra/helm/cdc/files/cdc-alerts.rules.yml, used by compose's
 * observability profile and the Helm chart's PrometheusRule) are valid for Prometheus, fire each
 * alert on synthetic series (`promtool test rules`), and select only series the services export.
 * promtool is installed by `npm run stack -- up` (infra/local/src/tools.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { localTool } from '../../../../infra/local/src/endpoints.ts';
import { exportedSeriesNames } from '../../src/catalogue.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../../..');
const rulesFile = resolve(root, 'infra/helm/cdc/files/cdc-alerts.rules.yml');
const testsFile = resolve(root, 'infra/observability/cdc-alerts.test.yml');
/**
 * Series a rule may select that the catalogue does not declare: Prometheus' own `up`, and the
 * mismatch gauge `cdc verify` exports (added with the verify rewrite).
 */
const NOT_IN_CATALOGUE = new Set(['cdc_verify_mismatched_rows']);

interface Rule {
  alert?: string;
  expr: string;
}
interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}

const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);

async function promtool(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(localTool('promtool'), args, { cwd: root });
    return `${stdout}${stderr}`;
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT')
      throw new Error(
        'promtool is not installed: `npm run stack -- up` installs it (Debian package prometheus)',
      );
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('the alerting rules', () => {
  it('are valid Prometheus rules (promtool check rules)', async () => {
    const out = await promtool(['check', 'rules', rulesFile]);
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('fire each alert on synthetic series and stay silent on healthy ones (promtool test rules)', async () => {
    const out = await promtool(['test', 'rules', testsFile]);
    expect(out).toContain('SUCCESS');
  });

  it('have a unit test that fires every alert', () => {
    const tests = (parse(readFileSync(testsFile, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] })
      .tests;
    const fired = new Set(
      tests
        .flatMap((t) => t.alert_rule_test ?? [])
        .filter((a) => (a.exp_alerts ?? []).length > 0)
        .map((a) => a.alertname),
    );
    const alerts = rules.flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    expect(alerts.filter((a) => !fired.has(a))).toEqual([]);
  });

  it('select only series the services export', () => {
    const exported = exportedSeriesNames();
    const unknown = rules.flatMap((r) =>
      [...r.expr.matchAll(/\bcdc_[a-z0-9_]+/g)]
        .map((m) => m[0])
        .filter((n) => !exported.has(n) && !NOT_IN_CATALOGUE.has(n))
        .map((n) => `${r.alert}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });
});
