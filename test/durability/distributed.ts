// The two distributed backends (bullmqQueue on Redis, postgresQueue on PostgreSQL) for the
// durability tests that hold both to the same behaviour: test/durability/distributed-*.test.ts run
// each row over both with `forEachDistributed`. What only one backend does stays in its own file
// (bullmq-*.test.ts, postgres-*.test.ts). The contract suite (test/contract) holds every backend,
// memory and SQLite included, to the README's promises; these rows go further where a shared queue
// server is the point (outages, several processes, what the server keeps).
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { bullmqQueue, postgresQueue, type ReceiverQueue } from '../../src/index.ts';
import { postgresTestsEnabled, startPostgres } from '../helpers/postgres.ts';
import { redisTestsEnabled, startRedis } from '../helpers/redis.ts';
import type { ThrowawayServer } from '../helpers/throwaway-server.ts';

/** The options both queues take, as the rows set them. */
export interface CommonQueueOptions {
  name?: string;
  workers?: boolean;
  countsIntervalMs?: number;
  enqueueTimeoutMs?: number;
  lockDurationMs?: number;
}

export interface Distributed {
  readonly name: 'bullmq' | 'postgres';
  /** The factory, as test names say it: `bullmqQueue()`. */
  readonly factory: string;
  /** The server it keeps its state in: `Redis`, `PostgreSQL`. */
  readonly server: string;
  /** A URL of the server's scheme (for the option checks, which connect nowhere). */
  readonly exampleUrl: string;
  /** Whether its server can run here (see `serverTestsEnabled`): registers the CI failure when not. */
  enabled(suite: string): boolean;
  start(): Promise<ThrowawayServer>;
  /**
   * The queue on the server at `url`, with the tests' quick intervals (counts every 50 ms, and
   * PostgreSQL polled every 50 ms) unless `options` say otherwise.
   */
  queue(url: string, options?: CommonQueueOptions): ReceiverQueue;
  /** Calls the factory with `options` as given: for the option checks. */
  make(options: { connection: unknown } & CommonQueueOptions): ReceiverQueue;
}

const bullmq: Distributed = {
  name: 'bullmq',
  factory: 'bullmqQueue()',
  server: 'Redis',
  exampleUrl: 'redis://h',
  enabled: redisTestsEnabled,
  start: startRedis,
  queue: (url, options = {}) => bullmqQueue({ connection: url, countsIntervalMs: 50, ...options }),
  make: (options) => bullmqQueue(options as Parameters<typeof bullmqQueue>[0]),
};

const postgres: Distributed = {
  name: 'postgres',
  factory: 'postgresQueue()',
  server: 'PostgreSQL',
  exampleUrl: 'postgres://h',
  enabled: postgresTestsEnabled,
  start: startPostgres,
  queue: (url, options = {}) => postgresQueue({ connection: url, countsIntervalMs: 50, pollIntervalMs: 50, ...options }),
  make: (options) => postgresQueue(options as Parameters<typeof postgresQueue>[0]),
};

export const DISTRIBUTED: readonly Distributed[] = [bullmq, postgres];

/** What each backend's describe block gets from {@link forEachDistributed}. */
export interface DistributedContext {
  /** The throwaway server of this describe block (started before its tests). */
  server(): ThrowawayServer;
  /** Runs `cleanup` after the current test, the last deferred first. */
  defer(cleanup: () => Promise<unknown> | unknown): void;
  /** A queue name no other test of this process uses. */
  queueName(prefix?: string): string;
}

let names = 0;

/**
 * Runs `body` once per distributed backend, in a describe named `<factory> <title>`, with a
 * throwaway server of its own (started once per block). A backend whose server cannot run here is
 * skipped with a warning, or fails the suite in CI.
 */
export function forEachDistributed(suite: string, title: string, body: (backend: Distributed, context: DistributedContext) => void): void {
  describe.each(DISTRIBUTED)(`$factory ${title}`, (backend) => {
    if (!backend.enabled(`${suite} (${backend.name})`)) return;
    let server: ThrowawayServer | undefined;
    const cleanups: (() => Promise<unknown> | unknown)[] = [];
    beforeAll(async () => {
      server = await backend.start();
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(backend, {
      server() {
        if (!server) throw new Error(`the ${backend.server} server has not started`);
        return server;
      },
      defer: (cleanup) => void cleanups.push(cleanup),
      queueName: (prefix = 'test') => `${prefix}-${process.pid}-${++names}`,
    });
  });
}
