import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Runs mongo-java-server as a standalone process for the local stack: an in-memory backend with
 * the oplog enabled (so change streams work), bound to one host and port until SIGTERM.
 *
 * <p>Usage: {@code java -cp <classes>:<lib>/* MongoJavaServerLauncher <host> <port>}
 *
 * <p>The library's own MONGO_5_0 constant pairs version 5.0.0 with wire version 8, which current
 * drivers refuse (the Node driver 7 needs wire version 9 or newer). The launcher therefore
 * claims 5.0.0 with 5.0's real wire version, 13; the library uses the value only in its
 * handshake and buildInfo replies.
 */
public final class MongoJavaServerLauncher {
  private static final MongoVersion CLAIMED =
      new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
          return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
          return 13;
        }
      };

  private MongoJavaServerLauncher() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 2) {
      System.err.println("usage: MongoJavaServerLauncher <host> <port>");
      System.exit(2);
    }
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    MongoBackend backend = new MemoryBackend().version(CLAIMED);
    MongoServer server = new MongoServer(backend);
    server.enableOplog();
    try {
      server.bind(host, port);
    } catch (RuntimeException e) {
      // Netty's threads would keep the JVM alive after a failed bind: exit so the stack sees it.
      System.err.println("could not listen on " + host + ":" + port + ": " + e);
      server.shutdownNow();
      System.exit(1);
    }
    System.out.println(
        "mongo-java-server listening on " + host + ":" + port + " (in-memory backend, oplog enabled)");
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.shutdownNow();
                  stopped.countDown();
                }));
    stopped.await();
  }
}
