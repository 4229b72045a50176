import type { WebhookError } from '../errors.ts';
import type { ImportState } from '../import/types.ts';
import type { DeadLetter, Delivery, Logger, ReceivedBody } from '../types.ts';

/** The answer of {@link ReceiverQueue.enqueue}. */
export type EnqueueResult = 'accepted' | 'duplicate' | 'full';

/** What the receiver gives a queue backend: how to run handlers, the policies, and where to report. */
export interface QueueRuntime {
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
   * succeeded or became a dead letter; different keys run in parallel.
   */
  orderKey(delivery: Delivery): string | undefined;
  /**
   * Runs one attempt of a delivery: every matching handler, each bounded by the handler timeout.
   * Resolves when all succeeded; rejects with a `handler.failed` or `handler.timeout` WebhookError.
   * Handlers in `skip` (already succeeded in an earlier attempt in this process) are not run again,
   * and those that succeed now are added to it.
   */
  run(delivery: Delivery, attempt: number, skip?: Set<unknown>): Promise<void>;
  /**
   * Rebuilds a delivery a store kept as its body as received: decodes it and validates it with the
   * event's schema again. Rejects with a `payload.invalid` or `entity.parse.failed` WebhookError.
   */
  revive(delivery: Delivery, body: ReceivedBody): Promise<Delivery>;
  /** The backoff before the attempt after `attempt` (exponential, with jitter). */
  retryDelay(attempt: number): number;
  /** Reports that a delivery succeeded. */
  succeeded(delivery: Delivery, attempt: number): void;
  /** Reports that a failed attempt will be retried after `delayMs`. */
  retrying(delivery: Delivery, attempt: number, error: WebhookError, delayMs: number): void;
  /** Reports that a delivery failed for good; it is now a dead letter. */
  dead(delivery: Delivery, attempts: number, error: WebhookError): void;
}

/**
 * Where accepted deliveries wait and run. The default is an in-process queue (p-queue) over a
 * {@link Store}; a distributed backend (BullMQ) implements the same contract.
 */
export interface ReceiverQueue {
  /**
   * Called once by the receiver before anything is enqueued. A backend that can serve one receiver
   * only throws a `TypeError` when started a second time.
   */
  start(runtime: QueueRuntime): void;
  /**
   * Accepts a delivery. Settles only once the delivery is kept as durably as the backend keeps
   * anything: the receiver answers 2xx after this. Answers `duplicate` for a dedupe id already seen
   * and `full` when `maxQueued` deliveries are waiting. A rejection with a `WebhookError` answers
   * the sender with its status (BullMQ: `queue.unavailable`, 503, when Redis does not answer in
   * time); any other rejection answers 500. `body` is the body as received, when the
   * provider allows keeping it (see `Store.accept`).
   */
  enqueue(delivery: Delivery, body?: ReceivedBody): EnqueueResult | Promise<EnqueueResult>;
  /** Deliveries waiting and running in this process. */
  counts(): { queued: number; running: number };
  /**
   * Optional: the dead letters kept, answered synchronously from memory (`stats().dead`). Stored
   * state, so it does not start from 0 at a restart. Without it, `stats().dead` counts the
   * deliveries that became dead letters since the receiver started.
   */
  deadCount?(): number;
  /**
   * Optional: the import state a handler of `delivery` sees as `ctx.importState` (see
   * `HandlerContext.importState`), kept by this backend for this receiver. Without it, handlers
   * get state kept in this process's memory only.
   */
  importState?(delivery: Delivery): ImportState;
  /** The deliveries that failed for good. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Runs a dead letter once more; resolves once it succeeded (and is no longer a dead letter). */
  replay(id: string): Promise<void>;
  /** Resolves when nothing is waiting or running. */
  onIdle(): Promise<void>;
  /**
   * Stops taking work and drains: waits for running and queued deliveries, cutting retry
   * backoffs short. Resolves `false` if `timeoutMs` passed first (what was left is aborted).
   */
  close(timeoutMs: number): Promise<boolean>;
}
