/**
 * Debian's `clickhouse-server` (bookworm ships 18.16) with a configuration of the stack's own
 * under `.stack/data/clickhouse`: HTTP and native TCP on 127.0.0.1 only, no interserver port,
 * user `default` without a password accepted from 127.0.0.1 only. It is old: the stack uses it
 * for HTTP transport tests; the engine the sink targets by default is embedded chdb.
 *
 * Layout of `.stack/data/clickhouse`: `etc/` (config.xml, users.xml, rewritten on every `up`),
 * `data/` (tables, metadata, preprocessed configs), `tmp/`, `user_files/`, `format_schemas/`,
 * `log/` (the full server log). Errors and warnings also go to `.stack/logs/clickhouse.log`, so
 * `npm run stack -- logs clickhouse` and a failed `up` show why the server stopped.
 *
 * 18.16 runs as root without complaint, so it runs as the invoking user (no `clickhouse` user
 * switch needed). What it lacks compared with a current server: query parameters
 * (`{x:UInt32}`), `ReplacingMergeTree(ver, is_deleted)`, `insert_deduplication_token`,
 * `DateTime64`, the `JSONCompactEachRow` family of formats.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from '../context.ts';
import { HOST } from '../ports.ts';
import type { LocalServer } from '../server.ts';

const BINARY = '/usr/sbin/clickhouse-server';

function paths(ctx: StackContext) {
  const base = ctx.serverDataDir('clickhouse');
  return {
    base,
    etc: resolve(base, 'etc'),
    config: resolve(base, 'etc', 'config.xml'),
    users: resolve(base, 'etc', 'users.xml'),
    data: resolve(base, 'data'),
    tmp: resolve(base, 'tmp'),
    userFiles: resolve(base, 'user_files'),
    formatSchemas: resolve(base, 'format_schemas'),
    log: resolve(base, 'log'),
  };
}

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** ClickHouse wants directory paths with a trailing slash. */
const dir = (p: string): string => xml(`${p}/`);

function configXml(ctx: StackContext): string {
  const p = paths(ctx);
  return `<?xml version="1.0"?>
<!-- Written by the local stack on every \`up\`; edits here are overwritten. -->
<yandex>
    <logger>
        <level>information</level>
        <log>${xml(resolve(p.log, 'clickhouse-server.log'))}</log>
        <errorlog>${xml(ctx.logFile('clickhouse'))}</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>${HOST}</listen_host>
    <http_port>${ctx.port('clickhouseHttp')}</http_port>
    <tcp_port>${ctx.port('clickhouseTcp')}</tcp_port>
    <!-- No interserver_http_port: a single server, no replication, nothing more to listen on. -->
    <path>${dir(p.data)}</path>
    <tmp_path>${dir(p.tmp)}</tmp_path>
    <user_files_path>${dir(p.userFiles)}</user_files_path>
    <format_schema_path>${dir(p.formatSchemas)}</format_schema_path>
    <users_config>${xml(p.users)}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_connections>1024</max_connections>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>10</keep_alive_timeout>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<!-- Written by the local stack on every \`up\`; edits here are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;

/** One query over HTTP, as the sink's HTTP transport would send it; throws on any failure. */
async function httpQuery(url: string, sql: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${url}/?query=${encodeURIComponent(sql)}`, {
      signal: AbortSignal.timeout(3000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`ClickHouse at ${url} does not answer (${cause})`);
  }
  const body = (await res.text()).trim();
  if (!res.ok) throw new Error(`ClickHouse at ${url} answered HTTP ${res.status}: ${body}`);
  return body;
}

export const clickhouse: LocalServer = {
  name: 'clickhouse',
  description: 'ClickHouse server 18.16 (Debian), HTTP + native TCP',
  ports: ['clickhouseHttp', 'clickhouseTcp'],
  aptPackages: ['clickhouse-server'],
  startTimeoutMs: 30_000,

  async install(ctx) {
    if (!existsSync(BINARY)) {
      throw new Error(
        `${BINARY} is missing although the Debian package is installed: reinstall it with apt-get install --reinstall clickhouse-server clickhouse-common`,
      );
    }
    const p = paths(ctx);
    for (const d of [p.etc, p.data, p.tmp, p.userFiles, p.formatSchemas, p.log]) {
      mkdirSync(d, { recursive: true });
    }
    // Rewritten every time: the ports come from the environment and may have moved.
    writeFileSync(p.config, configXml(ctx));
    writeFileSync(p.users, USERS_XML);
  },

  async start(ctx) {
    const p = paths(ctx);
    ctx.spawn('clickhouse', BINARY, [`--config-file=${p.config}`], { cwd: p.base });
  },

  async health(ctx) {
    const { url } = ctx.endpoints.clickhouse;
    const version = await httpQuery(url, 'SELECT version()');
    return {
      version: `ClickHouse ${version}`,
      connection: url,
      detail: `native tcp ${HOST}:${ctx.port('clickhouseTcp')}`,
    };
  },
};
