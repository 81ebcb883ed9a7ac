/**
 * The real health query both MongoDB-compatible servers share: the handshake and `buildInfo`
 * through the `mongodb` driver, then a change stream opened on a collection (the feature the
 * stack runs them for). Read-only: it writes nothing.
 */
import { MongoClient } from 'mongodb';

export interface MongoProbe {
  /** The MongoDB version the server claims in `buildInfo`. */
  claimedVersion: string;
  /** The replica-set name it advertises in its handshake, when it advertises one. */
  setName?: string;
  maxWireVersion: number;
  /** `buildInfo` fields the server adds beyond mongod's (SecantusDB's own version). */
  buildInfo: Record<string, unknown>;
}

/**
 * Bounded in time: every step fails within a few seconds when the server does not answer.
 * `handshake` is the command that asks for the server's role: mongo-java-server knows only the
 * legacy `isMaster`, not `hello`.
 */
export async function probeMongo(
  url: string,
  handshake: 'hello' | 'isMaster' = 'hello',
): Promise<MongoProbe> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 2000,
    connectTimeoutMS: 2000,
    socketTimeoutMS: 5000,
  });
  await client.connect();
  try {
    const admin = client.db('admin');
    const hello = await admin.command({ [handshake]: 1 });
    const buildInfo = await admin.command({ buildInfo: 1 });
    const stream = client.db('cdc_stack_health').collection('probe').watch([], { maxAwaitTimeMS: 100 });
    try {
      await stream.tryNext();
    } catch (err) {
      throw new Error(
        `the server answers but cannot open a change stream: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      await stream.close();
    }
    return {
      claimedVersion: String(buildInfo.version),
      ...(typeof hello.setName === 'string' ? { setName: hello.setName } : {}),
      maxWireVersion: Number(hello.maxWireVersion),
      buildInfo,
    };
  } finally {
    await client.close();
  }
}
