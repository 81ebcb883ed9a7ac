#!/usr/bin/env node
/**
 * `cdc`: the command line of a pipeline (see `USAGE` in args.ts). The composition root: parse,
 * dispatch, print errors as one readable line, exit with the command's status.
 *
 *   npm run cdc -- up --config infra/pipelines/demo.yaml
 *   npm run cdc -- status
 *   npm run cdc -- query "SELECT count() FROM shop_cdc_public_orders_current" --config infra/pipelines/demo.yaml
 *   npm run cdc -- verify --config infra/pipelines/demo.yaml --timeout 60
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LOSSLESS_JSON, openReader } from '@cdc/clickhouse';
import { createJsonLogger, isCdcError } from '@cdc/core';
import {
  availability,
  discardQuarantine,
  down,
  formatQuarantine,
  formatStatus,
  formatTable,
  formatVerifyReport,
  gatherStatus,
  listQuarantine,
  replayQuarantine,
  SERVICES,
  StateDir,
  servicesOf,
  statusOk,
  superviseUntilSignalled,
  tail,
  up,
  verify,
  verifyContinuously,
} from '@cdc/operate';
import { loadPipeline, pipelineReference } from '@cdc/pipeline';
import { parseCommandLine, USAGE, UsageError } from './args.ts';
import { type TableAction, tableAction } from './control-client.ts';
import { rebuild, schemas } from './delegate.ts';
import { REFERENCE_FILE } from './pipeline-reference.ts';
import { formatQueryJson } from './query-json.ts';
import { runService } from './run.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  const args = parseCommandLine(argv, process.env);
  const state = new StateDir(args.stateDir);
  switch (args.command) {
    case 'help':
      say(USAGE);
      return 0;
    case 'run':
      return runService(args.positionals[0] as string, args.config as string);
    case 'up': {
      const r = await up(args.config as string, state, say);
      if (r.skipped.length > 0)
        say(`not running (not available in this checkout): ${r.skipped.map((s) => s.name).join(', ')}`);
      return r.failed.length > 0 ? 1 : 0;
    }
    case 'supervise': {
      const config = resolve(args.config as string);
      const logger = createJsonLogger({}, { service: 'cdc-supervisor' });
      const services = [];
      for (const name of servicesOf(loadPipeline(config))) {
        const a = availability(name);
        if (a.available) services.push({ name, entry: a.entry, args: ['--config', config] });
        else logger.warn('service skipped', { service: name, reason: a.reason });
      }
      await superviseUntilSignalled({ config, services, state, logger });
      return 0;
    }
    case 'down':
      await down(state, say);
      return 0;
    case 'status': {
      const s = await gatherStatus(state, args.config);
      if (!s) {
        say(
          'nothing started here: `cdc up --config FILE` first (or pass --config to see Kafka-side progress)',
        );
        return 1;
      }
      process.stdout.write(args.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return statusOk(s) ? 0 : 1;
    }
    case 'logs': {
      const names = args.positionals.length > 0 ? args.positionals : [...SERVICES, 'supervisor'];
      for (const n of names) say(`== ${n} (${state.logFile(n)})\n${tail(state.logFile(n), args.lines)}`);
      return 0;
    }
    case 'query': {
      const pipeline = loadPipeline(args.config as string);
      if (!pipeline.clickhouse) {
        process.stderr.write('cdc query: the pipeline file has no clickhouse section\n');
        return 2;
      }
      const reader = await openReader(pipeline.clickhouse);
      try {
        const rows = await reader.query(args.positionals[0] as string, { ...LOSSLESS_JSON });
        process.stdout.write(args.json ? formatQueryJson(rows) : formatTable(rows));
      } finally {
        await reader.close();
      }
      return 0;
    }
    case 'verify': {
      if (args.continuous) {
        const stop = new AbortController();
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
        await verifyContinuously({
          config: args.config as string,
          timeoutMs: args.timeoutMs,
          sources: args.sources,
          rowsPerSecond: args.rowsPerSecond ?? 20_000,
          intervalMs: args.intervalMs,
          metricsPort: args.metricsPort,
          signal: stop.signal,
          log: (l) => process.stderr.write(`${l}\n`),
        });
        return 0;
      }
      const report = await verify({
        config: args.config as string,
        timeoutMs: args.timeoutMs,
        sources: args.sources,
        repair: args.repair,
        ...(args.rowsPerSecond === undefined ? {} : { ranges: { rowsPerSecond: args.rowsPerSecond } }),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatVerifyReport(report));
      return report.ok ? 0 : 1;
    }
    case 'control':
      return runService(
        'control',
        args.config as string,
        args.stateDir ? ['--state-dir', args.stateDir] : [],
      );
    case 'table': {
      const [action, source, table] = args.positionals as [TableAction, string, string];
      say(await tableAction(action, source, table, state, process.env));
      return 0;
    }
    case 'schemas':
      return schemas(args.rest);
    case 'docs': {
      mkdirSync(dirname(REFERENCE_FILE), { recursive: true });
      writeFileSync(REFERENCE_FILE, pipelineReference());
      say(`wrote ${REFERENCE_FILE}`);
      return 0;
    }
    case 'rebuild':
      return rebuild(args.positionals[0] as string, args.config as string);
    case 'quarantine': {
      const pipeline = loadPipeline(args.config as string);
      const [action, table] = args.positionals as [string, string | undefined];
      if (action === 'list') {
        const entries = await listQuarantine(pipeline, table);
        process.stdout.write(args.json ? `${JSON.stringify(entries, null, 2)}\n` : formatQuarantine(entries));
        return 0;
      }
      if (action === 'replay') {
        const n = await replayQuarantine(pipeline, table as string);
        say(
          `asked the capture to re-read ${n} quarantined row(s) of ${table}: rows that pass the rules are written, the others are quarantined again (\`cdc quarantine list ${table}\`)`,
        );
        return 0;
      }
      say(`discarded ${await discardQuarantine(pipeline, table as string)} quarantined row(s) of ${table}`);
      return 0;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`cdc: ${err.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `cdc: ${isCdcError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  },
);
