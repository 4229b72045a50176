// The backends the contract suite (test/contract/*.test.ts) holds to the README's promises.
//
// Each entry of BACKENDS is one backend, reached only through the public API: what it gives a
// receiver (`{ store }` or `{ queue }`), where its state lives for one test (a "world": a temp
// file, a Redis queue name...), and how to make storing deliveries hold or fail.
//
// HOW TO ADD A BACKEND (PostgreSQL, say): write one `Backend` object below and append it to
// BACKENDS. Typically:
//   - `available()`: whether its server binary is here (see `redisServerAvailable()`); the suite
//     skips the backend with a message outside CI and fails in CI when it answers false;
//   - `setUp()`/`tearDown()`: start and stop a throwaway server on a free port in a temp dir
//     (as `test/helpers/redis.ts` does), once per test file; `serverBackend()` below does this
//     for a backend on a server of its own;
//   - `world()`: a fresh, empty place for one test (a database schema or a unique queue name),
//     whose `descriptor` is a JSON string `reopen()` turns back into the same world in another
//     process (the crash rows run a child process: test/contract/fixtures/receiver.ts);
//   - `make(name, opts)`: `{ queue: pgQueue({ connection, ... }) }` or `{ store: ... }`;
//   - `fault(mode)`: make storing fail or hold for receivers made with `{ faults: true }`, the way
//     that backend really fails (a paused server, a wrapped Store...), and say in `unstored` what
//     the README promises the sender then gets;
//   - flags: `durable`, `shared`, `closeRunsQueued`; `skip` only for rows the README says the
//     backend does not promise, each with the reason.
// Every `describe.each` in test/contract picks it up; the backend is done when they all pass.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bullmqQueue, memoryStore, postgresQueue, sqliteStore, type ReceiverOptions, type Store } from '../../src/index.ts';
import type { ReceivedBody } from '../../src/types.ts';
import type { Delivery } from '../../src/types.ts';
import { lockPostgresTable, postgresServerAvailable, startPostgres } from '../helpers/postgres.ts';
import { pauseRedisWrites, redisServerAvailable, startRedis } from '../helpers/redis.ts';
import type { ThrowawayServer } from '../helpers/throwaway-server.ts';

/** The rows of the contract suite that a backend may be excused from, with a reason. */
export type ContractRow =
  | 'no 2xx before the delivery is stored'
  | 'duplicates within the TTL'
  | 'duplicate after a restart'
  | 'retries with backoff'
  | 'dead letters and replay'
  | 'orderBy'
  | 'close and drain'
  | 'several receivers on one store'
  | 'checkpoint across a retry'
  | 'work cut short by close() runs at the next start'
  | 'recovery after a crash'
  | 'checkpoint after a crash'
  | 'instances share the work'
  | 'close runs waiting retries at once';

/** What a backend gives a receiver: a store for the in-process queue, or a queue of its own. */
export type BackendOptions = Pick<ReceiverOptions<never>, 'store' | 'queue'>;

/** Options of {@link World.make}. */
export interface MakeOptions {
  /** This receiver's storing of deliveries obeys {@link World.fault}. */
  faults?: boolean;
  /**
   * The receiver notices quickly that a process running a delivery died (a backend that finds dead
   * workers by an expiring lock uses a short one), so the crash rows do not wait its default.
   */
  quickRecovery?: boolean;
}

/** One test's backend state: everything made from it shares it, and it outlives receivers. */
export interface World {
  /** JSON that {@link Backend.reopen} turns back into this world, in another process. */
  readonly descriptor: string;
  /**
   * The receiver options for a receiver named `name` on this world's state. Call it again after
   * the receiver closed (or its process died) for a restart on the same state.
   */
  make(name: string, opts?: MakeOptions): BackendOptions;
  /**
   * From now until the answered release is awaited, storing a delivery of a receiver made with
   * `faults` waits (`hold`) or fails (`fail`), the way this backend's storage really stops.
   */
  fault(mode: 'hold' | 'fail'): Promise<() => Promise<void>>;
  /** Frees the world's state once its receivers have closed. */
  cleanup(): Promise<void>;
}

/** What a sender is answered when its delivery could not be stored (README: "What every backend promises"). */
export interface Unstored {
  readonly status: number;
  readonly code: string;
  readonly retryAfter: boolean;
  /**
   * Whether the store may still land after the answer (a Redis answering late), so that the
   * sender's retry may be answered 200 duplicate rather than 202; the delivery runs once either way.
   */
  readonly mayLandLate: boolean;
}

export interface Backend {
  readonly name: string;
  /** An accepted delivery, its dedupe id and its import state survive a restart or a crash. */
  readonly durable: boolean;
  /** Several processes (instances of one receiver) may share it and its work. */
  readonly shared: boolean;
  /**
   * `close()` runs what waits in this process before it resolves (the in-process queue); `false`
   * when what waits stays in the backend for the other instances or the next start (README,
   * `bullmqQueue`: "Jobs still waiting stay in Redis").
   */
  readonly closeRunsQueued: boolean;
  readonly unstored: Unstored;
  /** Rows this backend does not promise, each with the README's reason. Never skipped silently. */
  readonly skip: Partial<Record<ContractRow, string>>;
  /** Whether it can run on this machine (its server binary is installed). */
  available(): boolean;
  /** Once per test file, before its tests: start a server. */
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A fresh, empty world for one test. */
  world(): World;
  /** The world a descriptor describes (in a child process: `setUp` has not run there). */
  reopen(descriptor: string): World;
}

const NO_RESTART = 'memoryStore keeps everything in this process: nothing survives a restart (README: Durability)';

/** A store whose accept() waits for, or fails at, a gate the test controls; the rest passes through. */
function gated(inner: Store, gate: Gate): Store {
  const wrapped: Store = {
    async accept(delivery: Delivery, dedupeTtlMs: number, body?: ReceivedBody) {
      await gate.wait();
      return inner.accept(delivery, dedupeTtlMs, body);
    },
    update: (id, update) => inner.update(id, update),
    unfinished: () => inner.unfinished(),
    deadLetters: () => inner.deadLetters(),
    close: () => inner.close(),
  };
  if (inner.watch) wrapped.watch = (listener) => inner.watch!(listener);
  if (inner.deadCount) wrapped.deadCount = () => inner.deadCount!();
  if (inner.importState) wrapped.importState = (id) => inner.importState!(id);
  // A shared store hands each receiver a view: wrap the view, so that its accept() is gated too.
  if (inner.forReceiver) wrapped.forReceiver = (name) => gated(inner.forReceiver!(name), gate);
  return wrapped;
}

/** Where a gated store's accept() waits or fails. */
class Gate {
  #mode: 'open' | 'hold' | 'fail' = 'open';
  #opened: Promise<void> = Promise.resolve();
  #open: () => void = () => {};

  set(mode: 'hold' | 'fail'): () => Promise<void> {
    this.#mode = mode;
    this.#opened = new Promise((resolve) => (this.#open = resolve));
    return async () => {
      this.#mode = 'open';
      this.#open();
    };
  }

  async wait(): Promise<void> {
    if (this.#mode === 'fail') throw new Error('EIO: i/o error, write (the test failed the store)');
    await this.#opened;
  }
}

function storeWorld(descriptor: string, open: (name: string) => Store, cleanup: () => void): World {
  const gate = new Gate();
  return {
    descriptor,
    make(_name, opts = {}) {
      const store = open(_name);
      return { store: opts.faults ? gated(store, gate) : store };
    },
    fault: async (mode) => gate.set(mode),
    cleanup: async () => cleanup(),
  };
}

/** The default: memoryStore(). One store object per world, passed to every receiver made from it. */
const memory: Backend = {
  name: 'memory',
  durable: false,
  shared: false,
  closeRunsQueued: true,
  unstored: { status: 500, code: 'internal', retryAfter: false, mayLandLate: false },
  skip: {
    'duplicate after a restart': NO_RESTART,
    'work cut short by close() runs at the next start': NO_RESTART,
    'recovery after a crash': NO_RESTART,
    'checkpoint after a crash': NO_RESTART,
    'instances share the work': 'memoryStore lives in one process: it has no instances to share with (README: Durability)',
  },
  available: () => true,
  setUp: async () => {},
  tearDown: async () => {},
  world() {
    const store = memoryStore();
    return storeWorld('{}', () => store, () => {});
  },
  reopen: () => memory.world(),
};

/** A world on the SQLite file in `dir`; a store object per receiver, as separate processes would have. */
function sqliteWorld(dir: string, cleanup: () => void): World {
  const path = join(dir, 'hooks.db');
  return storeWorld(JSON.stringify({ dir }), () => sqliteStore({ path }), cleanup);
}

/** sqliteStore() on a real file in a temp dir. */
const sqlite: Backend = {
  name: 'sqlite',
  durable: true,
  shared: false,
  closeRunsQueued: true,
  unstored: { status: 500, code: 'internal', retryAfter: false, mayLandLate: false },
  skip: {
    'instances share the work':
      'sqliteStore: "run each receiver name in one process only" (README: sqliteStore, Things to know)',
  },
  available: () => true,
  setUp: async () => {},
  tearDown: async () => {},
  world() {
    const dir = mkdtempSync(join(tmpdir(), 'scrapehook-contract-'));
    return sqliteWorld(dir, () => rmSync(dir, { recursive: true, force: true }));
  },
  reopen: (descriptor) => sqliteWorld((JSON.parse(descriptor) as { dir: string }).dir, () => {}),
};

/** What differs between the backends that keep their state in a server of their own. */
interface ServerBackendSpec {
  readonly name: string;
  readonly unstored: Unstored;
  readonly skip: Backend['skip'];
  available(): boolean;
  /** Starts a throwaway server on a free port (test/helpers). */
  start(): Promise<ThrowawayServer>;
  /** The queue of the receiver whose queue is named `queueName`, on the server at `url`. */
  queue(url: string, queueName: string, opts: MakeOptions): ReceiverOptions<never>['queue'];
  /** Holds every write of the receivers' storage until the answer is called (see {@link World.fault}). */
  hold(url: string): Promise<() => Promise<void>>;
}

let worlds = 0;

/**
 * A backend on a throwaway server started once per test file: shared and durable; a world is a
 * queue name per receiver (`contract-<pid>-<n>-<receiver>`) on that server, so worlds never meet.
 * What waits at close() stays in the server for the other instances or the next start.
 */
function serverBackend(spec: ServerBackendSpec): Backend {
  let server: ThrowawayServer | undefined;
  const backend: Backend = {
    name: spec.name,
    durable: true,
    shared: true,
    closeRunsQueued: false,
    unstored: spec.unstored,
    skip: spec.skip,
    available: () => spec.available(),
    async setUp() {
      server = await spec.start();
    },
    async tearDown() {
      await server?.stop();
      server = undefined;
    },
    world() {
      if (!server) throw new Error(`${spec.name}.setUp() has not run`);
      return backend.reopen(JSON.stringify({ url: server.url, world: `${process.pid}-${++worlds}` }));
    },
    reopen(descriptor) {
      const { url, world } = JSON.parse(descriptor) as { url: string; world: string };
      return {
        descriptor,
        make: (name, opts = {}) => ({ queue: spec.queue(url, `contract-${world}-${name}`, opts) }),
        // `hold` and `fail` are the same here; `fail` is a hold longer than enqueueTimeoutMs.
        fault: () => spec.hold(url),
        cleanup: async () => {},
      };
    },
  };
  return backend;
}

/** bullmqQueue() on a throwaway redis-server (test/helpers/redis.ts). */
const bullmq = serverBackend({
  name: 'bullmq',
  // README, bullmqQueue: "answered 503 queue.unavailable with Retry-After within enqueueTimeoutMs",
  // and "a delivery answered 503 after its timeout may still be added when Redis answers late".
  unstored: { status: 503, code: 'queue.unavailable', retryAfter: true, mayLandLate: true },
  skip: {
    'close runs waiting retries at once':
      'bullmqQueue: close() "stops this process\'s workers"; a retry waiting for its backoff stays in Redis for the other instances (README: bullmqQueue, close())',
  },
  available: redisServerAvailable,
  start: startRedis,
  queue: (url, name, opts) =>
    bullmqQueue({
      connection: url,
      name,
      countsIntervalMs: 50,
      // Long enough for a normal add on a busy machine, short enough for the outage rows.
      ...(opts.faults ? { enqueueTimeoutMs: 1500 } : {}),
      // A dead process's job is taken back after about lockDurationMs + stalledIntervalMs.
      ...(opts.quickRecovery ? { lockDurationMs: 1500, stalledIntervalMs: 300 } : {}),
    }),
  // Redis holds every write while the connection stays up, as in a stall or a partition: the way
  // a Redis that "does not answer" looks to the receiver.
  hold: pauseRedisWrites,
});

/** postgresQueue() on a throwaway PostgreSQL (test/helpers/postgres.ts), in its default schema. */
const postgresql = serverBackend({
  name: 'postgres',
  // README, postgresQueue: "answered 503 queue.unavailable with Retry-After ... within
  // enqueueTimeoutMs", and "a delivery answered 503 may still commit late".
  unstored: { status: 503, code: 'queue.unavailable', retryAfter: true, mayLandLate: true },
  skip: {
    'close runs waiting retries at once':
      'postgresQueue: close() "stops claiming and waits for this process\'s running deliveries; what waits stays in PostgreSQL" (README: postgresQueue, close())',
  },
  available: postgresServerAvailable,
  start: startPostgres,
  queue: (url, name, opts) =>
    postgresQueue({
      connection: url,
      name,
      countsIntervalMs: 50,
      pollIntervalMs: 50,
      ...(opts.faults ? { enqueueTimeoutMs: 1500 } : {}),
      // A dead process's job is taken back after about lockDurationMs + maintenanceIntervalMs.
      ...(opts.quickRecovery ? { lockDurationMs: 1000, maintenanceIntervalMs: 1000 } : {}),
    }),
  // Another session holds pg-boss' job table, as a stalled server or a long migration would: every
  // transaction that writes a job waits. (The receivers' first delivery has created the table.)
  hold: (url) => lockPostgresTable(url, 'scrapehook.job'),
});

/** Every backend the contract suite runs over. Add a row here (see the top of this file). */
export const BACKENDS: readonly Backend[] = [memory, sqlite, bullmq, postgresql];

/** The backend named `name` (the child process of the crash rows finds its backend by name). */
export function backendNamed(name: string): Backend {
  const backend = BACKENDS.find((b) => b.name === name);
  if (!backend) throw new Error(`No contract backend named ${JSON.stringify(name)}`);
  return backend;
}
