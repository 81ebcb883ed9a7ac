/**
 * The command line of `cdc`: one subcommand, its positionals and options. Pure (no I/O), so
 * that every usage error is tested without starting anything.
 */
import { parseArgs } from 'node:util';

export const USAGE = `usage: cdc <command> [options]

  run <service> --config FILE     run one service in the foreground (${'capture-postgres|capture-mongo|processor|sink-clickhouse|control'})
  up --config FILE                run every service of the pipeline file in the background, under a
                                  supervisor that restarts a service that exits
  down                            stop what \`up\` started, the supervisor included
  status [--json]                 each service: pid, health, restarts and last exit, consumer lag, source
                                  position, snapshot progress; whether the supervisor runs
  logs [service] [--lines N]      the end of a service's log (\`logs supervisor\`: restarts and exits)
  query "SQL" [--json]            query the pipeline's ClickHouse target (embedded or server)
  verify --config FILE [--timeout 120] [--source NAME…] [--repair] [--rows-per-second N] [--json]
                                  compare every captured table/collection with ClickHouse's current state
                                  (by key ranges checksummed inside both databases); --repair: re-read
                                  the differing keys through the capture (a resync request), then
                                  compare again; --rows-per-second: read the source at most that fast
  verify --continuous [--rows-per-second 20000] [--interval 60] [--metrics-port 9470]
                                  verify again and again in the background, results as cdc_verify_*
                                  metrics on 127.0.0.1:PORT/metrics; stops on SIGTERM/SIGINT
  schemas register|check|list     the checked-in Avro schemas against the registry
  rebuild <table> --config FILE   rebuild a ClickHouse table by replaying its topic
  quarantine list [table] | replay <table> | discard <table> --config FILE
                                  rows a quality rule quarantined: list them, re-read them from the source
                                  once fixed (they pass the rules again; a stopped table resumes), or drop them
  table pause|resume|resync <source> <schema.table>
                                  steer one table through the control service's API (token in
                                  CDC_CONTROL_TOKEN; URL from the state dir or CDC_CONTROL_URL)
  control --config FILE           the control service in the foreground: HTTP API (OpenAPI at
                                  /api/openapi.json) and web console on control.host:control.port
  docs                            rewrite docs/pipeline-reference.md from the pipeline schema

options: --config FILE (default: $CDC_CONFIG), --state-dir DIR (default: .stack/pipeline, where
up/down/status keep pid files and logs)

internal (started by \`up\`, not typed by hand):
  supervise --config FILE --state-dir DIR
                                  run every service, restart any that exits (backoff 1-30 s), stop
                                  them on SIGTERM; state in DIR/state.json, log DIR/logs/supervisor.log`;

export const COMMANDS = [
  'run',
  'up',
  'supervise',
  'down',
  'status',
  'logs',
  'query',
  'verify',
  'schemas',
  'rebuild',
  'quarantine',
  'control',
  'table',
  'docs',
  'help',
] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface ParsedArgs {
  command: CommandName;
  positionals: string[];
  config: string | undefined;
  stateDir: string | undefined;
  json: boolean;
  timeoutMs: number;
  lines: number;
  /** `--source NAME` (repeatable): `verify` only these sources. */
  sources: string[];
  /** `verify --repair`. */
  repair: boolean;
  /** `verify --rows-per-second N` (undefined: unlimited; 20000 with --continuous). */
  rowsPerSecond: number | undefined;
  /** `verify --continuous`. */
  continuous: boolean;
  /** `verify --continuous --interval S`, in ms. */
  intervalMs: number;
  /** `verify --continuous --metrics-port N`. */
  metricsPort: number;
  /** Arguments after the command passed on untouched (`cdc schemas …`). */
  rest: string[];
}

export class UsageError extends Error {}

export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ParsedArgs {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h')
    return base('help', [], env);
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new UsageError(
      `unknown command "${command}"; commands: ${COMMANDS.filter((c) => c !== 'help' && c !== 'supervise').join(', ')}`,
    );
  const name = command as CommandName;
  if (name === 'schemas') return { ...base(name, [], env), rest: args };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0)
    throw new UsageError(`--timeout takes seconds, got "${values.timeout}"`);
  const lines = Number(values.lines);
  if (!Number.isInteger(lines) || lines <= 0)
    throw new UsageError(`--lines takes a positive number, got "${values.lines}"`);
  const rowsPerSecond =
    values['rows-per-second'] === undefined ? undefined : Number(values['rows-per-second']);
  if (rowsPerSecond !== undefined && (!Number.isFinite(rowsPerSecond) || rowsPerSecond <= 0))
    throw new UsageError(`--rows-per-second takes a positive number, got "${values['rows-per-second']}"`);
  const intervalS = Number(values.interval);
  if (!Number.isFinite(intervalS) || intervalS < 0)
    throw new UsageError(`--interval takes seconds, got "${values.interval}"`);
  const metricsPort = Number(values['metrics-port']);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65_535)
    throw new UsageError(
      `--metrics-port takes a port number (0: any free one), got "${values['metrics-port']}"`,
    );
  if (values.continuous && values.repair)
    throw new UsageError(
      '--repair is for one run: use it without --continuous, after a run reported differences',
    );
  const out: ParsedArgs = {
    command: name,
    positionals,
    config: values.config ?? env.CDC_CONFIG,
    stateDir: values['state-dir'] ?? env.CDC_STATE_DIR,
    json: values.json,
    timeoutMs: timeoutS * 1000,
    lines,
    sources: values.source ?? [],
    repair: values.repair,
    rowsPerSecond,
    continuous: values.continuous,
    intervalMs: intervalS * 1000,
    metricsPort,
    rest: [],
  };
  if (values.help) return { ...out, command: 'help' };
  const needsConfig: CommandName[] = [
    'run',
    'up',
    'supervise',
    'verify',
    'rebuild',
    'query',
    'quarantine',
    'control',
  ];
  if (needsConfig.includes(name) && out.config === undefined)
    throw new UsageError(`cdc ${name} needs --config <pipeline file> (or CDC_CONFIG)`);
  const want: Partial<Record<CommandName, [number, string]>> = {
    run: [1, 'cdc run <service> --config FILE'],
    query: [1, 'cdc query "SQL" --config FILE [--json]'],
    rebuild: [1, 'cdc rebuild <table> --config FILE'],
  };
  const w = want[name];
  if (w && positionals.length !== w[0]) throw new UsageError(`usage: ${w[1]}`);
  if (name === 'table') {
    const [action] = positionals;
    if (!['pause', 'resume', 'resync'].includes(action ?? '') || positionals.length !== 3)
      throw new UsageError('usage: cdc table pause|resume|resync <source> <schema.table>');
  }
  if (name === 'quarantine') {
    const [action, table] = positionals;
    const ok =
      (action === 'list' && positionals.length <= 2) ||
      ((action === 'replay' || action === 'discard') && table !== undefined && positionals.length === 2);
    if (!ok)
      throw new UsageError(
        'usage: cdc quarantine list [table] | replay <table> | discard <table> --config FILE',
      );
  }
  return out;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      source: { type: 'string', multiple: true },
      timeout: { type: 'string', default: '120' },
      repair: { type: 'boolean', default: false },
      continuous: { type: 'boolean', default: false },
      interval: { type: 'string', default: '60' },
      'metrics-port': { type: 'string', default: '9470' },
      'rows-per-second': { type: 'string' },
      lines: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function base(command: CommandName, positionals: string[], env: NodeJS.ProcessEnv): ParsedArgs {
  return {
    command,
    positionals,
    config: env.CDC_CONFIG,
    stateDir: env.CDC_STATE_DIR,
    json: false,
    timeoutMs: 120_000,
    lines: 50,
    sources: [],
    repair: false,
    rowsPerSecond: undefined,
    continuous: false,
    intervalMs: 60_000,
    metricsPort: 9470,
    rest: [],
  };
}
