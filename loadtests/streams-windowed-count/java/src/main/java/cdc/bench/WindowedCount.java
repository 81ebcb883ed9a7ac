package cdc.bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;

/**
 * The windowed count of the benchmark, as a Kafka Streams user writes it: a one-minute tumbling
 * count per key with exactly_once_v2, every update written to the output keyed by
 * {@code <key>@<windowStart>} with the count as a decimal string. Runs until SIGTERM.
 *
 * <p>Arguments: bootstrap input output applicationId stateDir graceMs cacheBytes
 */
public final class WindowedCount {
  public static void main(String[] args) throws Exception {
    if (args.length != 7) {
      System.err.println("usage: WindowedCount bootstrap input output applicationId stateDir graceMs cacheBytes");
      System.exit(2);
    }
    String bootstrap = args[0];
    String input = args[1];
    String output = args[2];
    String applicationId = args[3];
    String stateDir = args[4];
    long graceMs = Long.parseLong(args[5]);
    long cacheBytes = Long.parseLong(args[6]);

    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey()
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofMillis(graceMs)))
        .count()
        .toStream()
        .map((k, v) -> KeyValue.pair(k.key() + "@" + k.window().start(), String.valueOf(v)))
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
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      done.countDown();
    }));
    streams.start();
    done.await();
  }
}
