/**
 * @cdc/testkit (private): what the integration tests and scenarios of every package share, so
 * that no package copies another's test files.
 *
 *   const proxy = new TcpProxy('127.0.0.1', 15432);   // take a shared server "down" for one test
 *   await proxy.start(); … await proxy.cut(); … await proxy.restore();
 *   const port = await freePort();
 *
 * A scenario that runs the product as a user does (`cdc up`) on a database of its own:
 *
 *   const id = `nt_${process.pid}_${Date.now().toString(36)}`;
 *   const files = scenarioFiles('new-table');
 *   const cdc = cdcCommand(files);
 *   beforeAll(async () => {
 *     expect(buildPackages('services/cli', 'services/capture-postgres', 'services/sink-clickhouse').status).toBe(0);
 *     await dropScenario(id).catch(() => undefined);
 *     await createSourceDatabase(id, (db) => db.query('CREATE TABLE public.t (id int PRIMARY KEY)'));
 *     writeFileSync(files.config, scenarioPipeline({ id, dir: files.dir, httpPort, database: 'nt', sinkTopics: `^${id}\\.` }));
 *   });
 *   afterAll(() => tearDownScenario({ id, files, cdc }), 120_000);
 */
export {
  buildPackages,
  type CdcOptions,
  type CdcResult,
  cdcCommand,
  cdcCommandAsync,
  REPO_ROOT,
  type ScenarioFiles,
  scenarioFiles,
} from './cdc-command.ts';
export { type DropOptions, dropScenario, scenarioKafka, tearDownScenario } from './drop-scenario.ts';
export { freePort } from './free-port.ts';
export { type ReadRecord, readTopic } from './read-topic.ts';
export { type ScenarioPipelineOptions, scenarioPipeline } from './scenario-pipeline.ts';
export { createSourceDatabase, pgOwner, pgSuperuser, withClient } from './source-databases.ts';
export { kafkaSocketFactory, proxiedKafka, TcpProxy } from './tcp-proxy.ts';
