/**
 * The @cdc/streams side of the windowed-count benchmark: the same topology as
 * ../java/src/main/java/cdc/bench/WindowedCount.java (a one-minute tumbling count per key,
 * exactly-once, every update written keyed by `<key>@<windowStart>` with the count as a decimal
 * string). Runs until SIGTERM, then closes cleanly.
 *
 *   node windowed-count.ts <bootstrap> <input> <output> <applicationId> <stateDir> <graceMs>
 */
import { createJsonLogger } from '@cdc/core';
import { createKafka, KafkaConfigSchema } from '@cdc/kafka';
import { KafkaStreams, Serdes, StreamsBuilder, TimeWindows, type Windowed } from '@cdc/streams';

const [bootstrap, input, output, applicationId, stateDir, graceMs] = process.argv.slice(2);
if (!bootstrap || !input || !output || !applicationId || !stateDir || !graceMs) {
  process.stderr.write('usage: windowed-count.ts bootstrap input output applicationId stateDir graceMs\n');
  process.exit(2);
}

const builder = new StreamsBuilder();
builder
  .stream<string, string>(input, { keySerde: Serdes.string(), valueSerde: Serdes.string() })
  .groupByKey()
  .windowedBy(TimeWindows.tumbling(60_000, { graceMs: Number(graceMs) }))
  .count()
  .toStream()
  .map((k: Windowed<string>, v) => ({ key: `${k.key}@${k.window.start}`, value: String(v) }))
  .to(output, { keySerde: Serdes.string(), valueSerde: Serdes.string() });

const logger = createJsonLogger({ level: 'warn' });
const kafka = createKafka(KafkaConfigSchema.parse({ brokers: [bootstrap], clientId: applicationId }), logger);
const app = new KafkaStreams(builder.build(), { applicationId, kafka, stateDir, logger });

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  // A close stuck behind a batch still ends the process (and writes a --cpu-prof profile).
  setTimeout(() => process.exit(1), 10_000).unref();
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await app.start();
process.stdout.write('state RUNNING\n');
// A failed application stops processing but not the process: end it, so the driver notices.
setInterval(() => {
  if (app.state !== 'failed') return;
  process.stderr.write(`streams application failed: ${(app.error as Error)?.message}\n`);
  process.exit(1);
}, 200).unref();
