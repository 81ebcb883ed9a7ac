package cdc.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * The processor benchmark's declarations as a Kafka Streams user writes them, exactly_once_v2:
 *
 * <pre>
 *   orders (Avro CDC) ─leftJoin─ GlobalKTable customers (id → region)
 *     ─▶ last version per order (logged store) → deltas (−old at its event time, +new at its own)
 *     ─▶ groupByKey (repartition by region) ─▶ 1-minute tumbling windows, grace 10 s: count, sum(total)
 *     ─▶ suppress(untilWindowCloses) ─▶ output (JSON key and value)
 * </pre>
 *
 * Event time is the record timestamp (the benchmark writes {@code source.tsMs} there). Runs until
 * SIGTERM.
 *
 * <p>Arguments: bootstrap registryUrl customers orders output applicationId stateDir cacheBytes
 */
public final class EnrichAggregate {
  private static final Duration WINDOW = Duration.ofMinutes(1);
  private static final Duration GRACE = Duration.ofSeconds(10);
  private static final String ROWS_STORE = "orders_with_region-rows";

  /** Confluent wire format (magic 0, schema id, Avro binary), writer schemas fetched by id and cached. */
  static final class RegistryAvro {
    private final String url;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();
    private final ConcurrentHashMap<Integer, GenericDatumReader<GenericRecord>> readers = new ConcurrentHashMap<>();
    private final GenericData model = new GenericData();

    RegistryAvro(String url) {
      this.url = url;
      model.addLogicalTypeConversion(new Conversions.DecimalConversion());
    }

    GenericRecord decode(byte[] data) {
      if (data == null) return null;
      ByteBuffer b = ByteBuffer.wrap(data);
      if (b.get() != 0) throw new IllegalArgumentException("not the Confluent wire format");
      GenericDatumReader<GenericRecord> reader = readers.computeIfAbsent(b.getInt(), this::fetch);
      try {
        return reader.read(null, DecoderFactory.get().binaryDecoder(data, 5, data.length - 5, null));
      } catch (Exception e) {
        throw new IllegalStateException("Avro decode failed", e);
      }
    }

    /**
     * Encodes a one-field {@code id: long} key record with the latest key schema of {@code subject},
     * as a Confluent serializer does: the global table's store holds the topic's raw key bytes (it
     * is restored from the topic as is), so a lookup key must be written the same way.
     */
    Serializer<String> idKeySerializer(String subject) {
      return new Serializer<>() {
        private int id = -1;
        private GenericDatumWriter<GenericRecord> writer;
        private Schema schema;

        @Override
        public byte[] serialize(String topic, String key) {
          if (key == null) return null;
          try {
            if (writer == null) {
              HttpResponse<String> res = http.send(
                  HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions/latest")).build(),
                  HttpResponse.BodyHandlers.ofString());
              if (res.statusCode() != 200) throw new IllegalStateException("registry: " + subject + ": " + res.statusCode());
              var latest = json.readTree(res.body());
              id = latest.get("id").asInt();
              schema = new Schema.Parser().parse(latest.get("schema").asText());
              writer = new GenericDatumWriter<>(schema);
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream(16);
            out.write(0);
            out.write(ByteBuffer.allocate(4).putInt(id).array());
            BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
            GenericRecord rec = new GenericData.Record(schema);
            rec.put("id", Long.parseLong(key));
            writer.write(rec, enc);
            enc.flush();
            return out.toByteArray();
          } catch (Exception e) {
            throw new IllegalStateException("key encode failed", e);
          }
        }
      };
    }

    private GenericDatumReader<GenericRecord> fetch(int id) {
      try {
        HttpResponse<String> res = http.send(
            HttpRequest.newBuilder(URI.create(url + "/schemas/ids/" + id)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (res.statusCode() != 200) throw new IllegalStateException("registry: schema " + id + ": " + res.statusCode());
        Schema schema = new Schema.Parser().parse(json.readTree(res.body()).get("schema").asText());
        return new GenericDatumReader<>(schema, schema, model);
      } catch (Exception e) {
        throw new IllegalStateException("registry: schema " + id, e);
      }
    }
  }

  /** An order change as the join needs it: op, customer id, total and event time of {@code after}. */
  record OrderChange(String op, Long customerId, BigDecimal total, long tsMs) {}

  /** The enriched version of an order: what it contributes to its region's window. */
  record Version(String region, BigDecimal total, long tsMs) {
    String encode() {
      return (region == null ? "\0" : region) + "\t" + total.toPlainString() + "\t" + tsMs;
    }

    static Version decode(String s) {
      if (s == null) return null;
      String[] f = s.split("\t", 3);
      return new Version(f[0].equals("\0") ? null : f[0], new BigDecimal(f[1]), Long.parseLong(f[2]));
    }
  }

  static <T> Serde<T> readOnly(Deserializer<T> d) {
    Serializer<T> s = (topic, v) -> {
      throw new UnsupportedOperationException("read-only serde");
    };
    return Serdes.serdeFrom(s, d);
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 8) {
      System.err.println("usage: EnrichAggregate bootstrap registryUrl customers orders output applicationId stateDir cacheBytes");
      System.exit(2);
    }
    String bootstrap = args[0];
    RegistryAvro avro = new RegistryAvro(args[1]);
    String customers = args[2];
    String orders = args[3];
    String output = args[4];
    String applicationId = args[5];
    String stateDir = args[6];
    long cacheBytes = Long.parseLong(args[7]);

    Deserializer<String> idKeyReader = (topic, data) -> {
      GenericRecord k = avro.decode(data);
      return k == null ? null : String.valueOf(k.get("id"));
    };
    Serde<String> idKey = readOnly(idKeyReader);
    Serde<String> customerKey = Serdes.serdeFrom(avro.idKeySerializer(customers + "-key"), idKeyReader);
    Serde<String> region = readOnly((topic, data) -> {
      GenericRecord e = avro.decode(data);
      if (e == null) return null;
      GenericRecord after = (GenericRecord) e.get("after");
      return after == null ? null : Objects.toString(after.get("region"), null);
    });
    Serde<OrderChange> orderChange = readOnly((topic, data) -> {
      GenericRecord e = avro.decode(data);
      if (e == null) return null; // a tombstone after a delete
      GenericRecord after = (GenericRecord) e.get("after");
      GenericRecord source = (GenericRecord) e.get("source");
      return new OrderChange(
          e.get("op").toString(),
          after == null ? null : (Long) after.get("customer_id"),
          after == null ? null : (BigDecimal) after.get("total"),
          (Long) source.get("tsMs"));
    });

    StreamsBuilder builder = new StreamsBuilder();
    GlobalKTable<String, String> regions = builder.globalTable(customers, Consumed.with(customerKey, region),
        Materialized.as("customers-region"));
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(ROWS_STORE), Serdes.String(), Serdes.String()));

    builder.stream(orders, Consumed.with(idKey, orderChange))
        // a left join, as the demo declares it (no customer: region null)
        .leftJoin(regions,
            (id, o) -> o.customerId() == null ? null : String.valueOf(o.customerId()),
            (o, r) -> o.op().equals("d") || o.total() == null ? null : new Version(r, o.total(), o.tsMs()).encode())
        .process(() -> new Processor<String, String, String, String>() {
              private ProcessorContext<String, String> ctx;
              private KeyValueStore<String, String> rows;

              @Override
              public void init(ProcessorContext<String, String> context) {
                ctx = context;
                rows = context.getStateStore(ROWS_STORE);
              }

              @Override
              public void process(Record<String, String> r) {
                String previous = rows.get(r.key());
                String next = r.value();
                if (previous == null && next == null) return;
                if (Objects.equals(previous, next)) return;
                if (next == null) rows.delete(r.key());
                else rows.put(r.key(), next);
                Version old = Version.decode(previous);
                Version now = Version.decode(next);
                if (old != null)
                  ctx.forward(new Record<>(group(old.region()), "-" + old.total().toPlainString(), old.tsMs()));
                if (now != null)
                  ctx.forward(new Record<>(group(now.region()), now.total().toPlainString(), now.tsMs()));
              }
            }, ROWS_STORE)
        .groupByKey(Grouped.with("revenue_by_region_1m", Serdes.String(), Serdes.String()))
        .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
        .aggregate(
            () -> "0\t0",
            (group, delta, agg) -> {
              String[] f = agg.split("\t", 2);
              boolean retract = delta.startsWith("-");
              long n = Long.parseLong(f[0]) + (retract ? -1 : 1);
              return n + "\t" + new BigDecimal(f[1]).add(new BigDecimal(delta)).toPlainString();
            },
            Materialized.<String, String, WindowStore<Bytes, byte[]>>as("revenue_by_region_1m")
                .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()))
        .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
        .toStream()
        .map((w, agg) -> {
          String[] f = agg.split("\t", 2);
          String key = "{\"group\":" + quote(w.key()) + ",\"windowStartMs\":" + w.window().start() + "}";
          String value = "{\"windowStartMs\":" + w.window().start() + ",\"windowEndMs\":" + w.window().end()
              + ",\"region\":" + w.key().substring(1, w.key().length() - 1) + ",\"orders\":" + f[0]
              + ",\"revenue\":\"" + f[1] + "\",\"emittedAtMs\":" + System.currentTimeMillis() + "}";
          return KeyValue.pair(key, Long.parseLong(f[0]) <= 0 ? null : value);
        })
        .to(output, Produced.with(Serdes.String(), Serdes.String()));

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    streams.setStateListener((next, previous) -> {
      if (next == KafkaStreams.State.RUNNING) System.out.println("state RUNNING");
      if (next == KafkaStreams.State.ERROR) {
        System.err.println("kafka streams failed");
        done.countDown();
      }
    });
    streams.setUncaughtExceptionHandler(e -> {
      e.printStackTrace();
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      done.countDown();
    }));
    streams.start();
    done.await();
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }

  /** The group key as the processor writes it: the group's values as JSON array text. */
  static String group(String region) {
    return region == null ? "[null]" : "[" + quote(region) + "]";
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
