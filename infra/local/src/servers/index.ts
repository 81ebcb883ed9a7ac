import type { LocalServer } from '../server.ts';
import { clickhouse } from './clickhouse.ts';
import { kafka } from './kafka.ts';
import { mongo } from './mongo.ts';
import { mongoJava } from './mongo-java.ts';
import { postgres } from './postgres.ts';
import { registry } from './registry.ts';

/** Every server of the local stack, in start order. */
export const SERVERS: LocalServer[] = [postgres, kafka, registry, mongo, mongoJava, clickhouse];
