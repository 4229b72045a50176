import type { WebhookError } from '../errors.ts';
import type { ImportState } from '../import/types.ts';
import type { DeadLetter, Delivery, Logger, ReceivedBody } from '../types.ts';

/*
 * The seam between the receiver's core and a queue backend.
 *
 * The core owns the policy, once for every backend: attempt counting, backoff, the retry-or-dead
 * decision (including errors marked `retryable: false`), re-validating a body kept as received,
 * skipping handlers that already succeeded, `onError`, logging, the counters of `stats()`, and
 * drain-with-timeout on close (aborting the handlers' signals when it runs out).
 *
 * A backend persists and schedules: it accepts a delivery durably with its dedupe id and TTL,
 * claims (leases) deliveries to run, hands each claimed delivery to `core.attempt()`, records the
 * outcome it gets back and schedules what follows (a retry after `delayMs`, the next delivery of
 * the same ordering key), lists and replays dead letters, keeps import checkpoints, and counts.
 *
 * One attempt, as a backend runs it:
 *
 *   claimed = { delivery, body?, attemptsSoFar, skip? }      (the backend's own object, extended at will)
 *   outcome = await core.attempt(claimed)
 *     core: revive body → run handlers (skipping `skip`) → decide → await backend.record(claimed, outcome)
 *           → report (counters, logs, onError) → answer outcome
 *   backend: 'succeeded' | 'dead' → release the ordering key; 'retry' → run it again after outcome.delayMs
 */

/** The answer of {@link Backend.enqueue}. */
export type EnqueueResult = 'accepted' | 'duplicate' | 'full';

/**
 * A delivery a backend has claimed and hands to {@link DeliveryCore.attempt}. A backend passes its
 * own object (with its job id, ordering key...) and gets the same object back in
 * {@link Backend.record} and {@link Backend.importState}.
 */
export interface Claimed {
  /**
   * The delivery as accepted. When `body` is given, `payload` is not read: the core rebuilds it
   * from the body.
   */
  readonly delivery: Delivery;
  /**
   * The body as received, when the backend kept it instead of the payload: the core decodes it and
   * validates it with the event's schema again before any handler sees it. A body that no longer
   * passes makes the delivery a dead letter at once (recorded, logged, not retried).
   */
  readonly body?: ReceivedBody;
  /** Attempts made before this one, as the backend recorded them (0 for a new delivery). */
  readonly attemptsSoFar: number;
  /**
   * The attempts this delivery may have, when the backend fixed them when it accepted it (a job's
   * own option) or wants this attempt to be the last (a replay).
   * @default the receiver's `retry.attempts`
   */
  readonly maxAttempts?: number;
  /**
   * Handlers that already succeeded for this delivery in an earlier attempt in this process: the
   * core does not run them again and adds those that succeed now. The backend keeps the set with
   * the delivery between its attempts (or passes none: every handler runs on every attempt).
   */
  readonly skip?: Set<unknown>;
}

/**
 * What one attempt came to, decided by the core; the backend records it and schedules what
 * follows. `attempts` counts the attempts made, this one included.
 */
export type Outcome =
  | { readonly kind: 'succeeded'; readonly attempts: number }
  /** Run it again after `delayMs` (0 while the receiver drains: waiting retries run at once). */
  | { readonly kind: 'retry'; readonly attempts: number; readonly delayMs: number; readonly error: WebhookError }
  /** A dead letter: its last attempt failed, its error said retrying cannot help, or its body no longer validates. */
  | { readonly kind: 'dead'; readonly attempts: number; readonly error: WebhookError };

/** What the core gives a backend when it starts: the receiver's settings and the policy. */
export interface DeliveryCore {
  /**
   * The receiver's name (its `name` option, by default its provider's): a backend shared by
   * several receivers keeps each one's deliveries apart by it.
   */
  readonly name: string;
  /** How many deliveries may run at once in this process. */
  readonly concurrency: number;
  /** How many deliveries may wait (queued or waiting for a retry) before enqueue answers `full`. */
  readonly maxQueued: number;
  /** Attempts per delivery, the first included. */
  readonly attempts: number;
  /** How long a dedupe id is remembered; 0 when deduplication is off. */
  readonly dedupeTtlMs: number;
  readonly logger: Logger;
  /**
   * The ordering key of a delivery (the receiver's `orderBy`), or `undefined` for none: deliveries
   * with the same key run one at a time in arrival order, each waiting until the one before it
   * succeeded or became a dead letter; different keys run in parallel. Read it when accepting.
   */
  orderKey(delivery: Delivery): string | undefined;
  /**
   * Runs one attempt of a claimed delivery and decides what follows: revives a kept body, runs
   * every matching handler (bounded by the handler timeout, skipping `claimed.skip`), decides
   * succeeded / retry after a backoff / dead letter, calls {@link Backend.record} and awaits it,
   * then reports (counters, logs, `onError`). Rejects only when `record` rejects.
   */
  attempt(claimed: Claimed): Promise<Outcome>;
  /**
   * A kept delivery as handlers need it, for a backend that must read the payload before the
   * attempt (its ordering key at a restart): revives `claimed.body` as `attempt()` would. When it no
   * longer passes, records and logs the dead letter as `attempt()` would and answers `undefined`.
   */
  restore(claimed: Claimed): Promise<Delivery | undefined>;
  /**
   * Rebuilds a delivery kept as its body: decodes it and validates it with the event's schema again
   * (for showing dead letters). Rejects with a `payload.invalid` or `entity.parse.failed` WebhookError.
   */
  revive(delivery: Delivery, body: ReceivedBody): Promise<Delivery>;
  /**
   * The backoff before the attempt after `attempt` (exponential, with jitter), for an attempt
   * that failed outside `attempt()` (the backend's own storage failed) and that its engine retries.
   */
  retryDelay(attempt: number): number;
  /**
   * Reports an outcome the backend's engine decided without `attempt()` (a job BullMQ failed
   * because its workers kept dying): counters, logs, `onError`.
   */
  report(delivery: Delivery, outcome: Outcome): void;
}

/**
 * Where accepted deliveries wait and run: the in-process queue over a `Store` (memory, SQLite),
 * `bullmqQueue()` (Redis), or your own. A backend persists and schedules; the policy is the core's
 * (see {@link DeliveryCore}).
 *
 * **Synchronous answers.** `enqueue`, `record`, `counts`, `deadCount` and `importState` may answer
 * synchronously, and the core then does not await: a memory or SQLite store answers at once, and
 * every `await` of a value that is already there still costs a promise and a microtask per request
 * on the acknowledgement path (measured: the pattern `const r = store.update(...); if (r) await r`
 * of the in-process queue, see the README's Performance section). Answer a promise only when the
 * work really waits for I/O (Redis, PostgreSQL). `counts` and `deadCount` must be synchronous and
 * cheap: `counts` is read for every request (`maxQueued`), `deadCount` by `stats()`.
 *
 * **The 2xx waits for `enqueue`.** Settle only once the delivery is kept as durably as the backend
 * keeps anything, with its dedupe id claimed for `core.dedupeTtlMs`.
 *
 * @typeParam C the backend's own claimed deliveries, handed back to `record` and `importState`.
 */
export interface Backend<C extends Claimed = Claimed> {
  /**
   * Called once by the receiver before anything is enqueued. A backend that can serve one receiver
   * only throws a `TypeError` when started a second time.
   */
  start(core: DeliveryCore): void;
  /**
   * Accepts a delivery: atomically claims its dedupe id (`core.dedupeTtlMs`; 0 turns dedupe off)
   * and keeps it. Answers `duplicate` for an id claimed within the TTL (keeping nothing), `full`
   * when `core.maxQueued` deliveries wait. A rejection with a `WebhookError` answers the sender with
   * its status (`queue.unavailable`, 503, when the database does not answer in time); any other
   * rejection answers 500, and the dedupe id must then stay unclaimed. `body` is the body as
   * received when the provider allows keeping it: keep these bytes rather than the payload (much
   * cheaper for large bodies) and hand them back as `Claimed.body`.
   */
  enqueue(delivery: Delivery, body?: ReceivedBody): EnqueueResult | Promise<EnqueueResult>;
  /**
   * Records the outcome of an attempt, before the core reports it: `succeeded` (forget the body;
   * the dedupe id stays for its TTL), `retry` (keep it, with `attempts` and the error, to run after
   * `delayMs`), `dead` (a dead letter with `attempts` and the error, kept until replayed). The
   * backend schedules what follows once `core.attempt()` has answered. A backend whose engine
   * records completion itself (BullMQ, when the processor returns) does only its own part here.
   */
  record(claimed: C, outcome: Outcome): void | Promise<void>;
  /** Deliveries waiting and running in this process (or, for a shared backend, waiting anywhere). Synchronous. */
  counts(): { queued: number; running: number };
  /**
   * Optional: the dead letters kept, answered synchronously from memory (`stats().dead`). Stored
   * state, so it does not start from 0 at a restart. Without it, `stats().dead` counts the
   * deliveries that became dead letters since the receiver started.
   */
  deadCount?(): number;
  /**
   * Optional: the import state a handler of `claimed` sees as `ctx.importState` (see
   * `HandlerContext.importState`), kept by this backend for this receiver; `undefined` for none.
   * Without it, handlers get state kept in this process's memory only.
   */
  importState?(claimed: C): ImportState | undefined;
  /** The deliveries that failed for good, their bodies shown revived (`core.revive`). */
  deadLetters(): Promise<DeadLetter[]>;
  /**
   * Runs a dead letter once more (one attempt, whatever its count); resolves once it succeeded (it
   * is no longer a dead letter), rejects with its error if it failed (it stays one), and with a
   * `RangeError` for an unknown id.
   */
  replay(id: string): Promise<void>;
  /** Resolves when nothing is waiting or running. */
  onIdle(): Promise<void>;
  /**
   * Stops claiming new work and runs what waits for a retry in this process at once; resolves when
   * nothing runs or waits here any more. The core races it against `close({ timeoutMs })` and
   * aborts the handlers' signals when the time runs out.
   */
  drain(): Promise<void>;
  /**
   * Releases the backend's files and connections, after `drain()` settled or timed out (`drained`
   * says which); must not wait for running handlers. What did not finish stays kept for the next
   * start or another process.
   */
  close(drained: boolean): void | Promise<void>;
}

/**
 * Where deliveries wait and run: the type of the receiver's `queue` option (`bullmqQueue()`).
 * The same contract as {@link Backend}.
 */
export type ReceiverQueue = Backend;

/** What the receiver gives a queue backend: the former name of {@link DeliveryCore}. */
export type QueueRuntime = DeliveryCore;
