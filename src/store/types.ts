import type { ImportState } from '../import/types.ts';
import type { DeadLetter, Delivery, ReceivedBody, SerializedError } from '../types.ts';

/** Where a delivery stands. */
export type DeliveryState = 'queued' | 'running' | 'succeeded' | 'dead';

/** A delivery as a store keeps it. */
export interface StoredDelivery extends Delivery {
  /** Attempts made so far. */
  readonly attempts: number;
  readonly state: DeliveryState;
  /** The last error, for a failed attempt. */
  readonly error?: SerializedError;
  /**
   * The body as received, when the store kept it instead of the payload (`payload` is then
   * `undefined`): the receiver decodes and validates it again before the handlers see it.
   */
  readonly body?: ReceivedBody;
}

/** A dead letter as a store keeps it: with the body as received, if it kept that instead of the payload. */
export interface StoredDeadLetter extends DeadLetter {
  readonly body?: ReceivedBody;
}

/** A change of a delivery's state, written after each attempt. */
export interface DeliveryUpdate {
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly error?: SerializedError;
}

/**
 * Where the in-process queue keeps what must outlive a request: dedupe ids, accepted deliveries and
 * their state, and dead letters. {@link memoryStore} is the default; a durable store makes an
 * acknowledged delivery survive a crash, because the receiver re-queues `unfinished()` at start.
 *
 * Methods may answer synchronously or with a promise.
 */
export interface Store {
  /**
   * Atomically claims the delivery's dedupe id and records the delivery as `queued`. Answers
   * `false`, recording nothing, when the id was claimed less than `dedupeTtlMs` ago (a duplicate).
   * With `dedupeTtlMs` 0, deduplication is off: always records and answers `true`.
   * The receiver sends its 2xx only after this has settled, so a durable store settles once the
   * delivery is on disk.
   *
   * `body` is the request body as received, given when the provider allows keeping it: a durable
   * store should keep these bytes rather than serialize the payload (much cheaper for large
   * bodies), and answer them as `body` from `unfinished()` and `deadLetters()`.
   */
  accept(delivery: Delivery, dedupeTtlMs: number, body?: ReceivedBody): boolean | Promise<boolean>;
  /** Records the outcome of an attempt (`running`, `queued` for a retry, `succeeded`, `dead`). */
  update(id: string, update: DeliveryUpdate): void | Promise<void>;
  /** Deliveries accepted but not finished (queued or running), oldest first: re-queued at start. */
  unfinished(): readonly StoredDelivery[] | Promise<readonly StoredDelivery[]>;
  /** The dead letters, oldest first. */
  deadLetters(): readonly StoredDeadLetter[] | Promise<readonly StoredDeadLetter[]>;
  /**
   * Optional: calls `listener` with each delivery queued again from outside this process (an
   * operator's `scrapehook replay` on a durable store), so that the running receiver's handlers
   * run it. The in-process queue subscribes once it has re-queued `unfinished()` at start. Answers
   * a function that stops watching.
   */
  watch?(listener: (delivery: StoredDelivery) => void): () => void;
  /**
   * Optional: how many dead letters this store keeps, answered synchronously and cheaply (from
   * memory): `receiver.stats().dead`. A store without it is counted from `deadLetters()` at start
   * and kept in step by the receiver.
   */
  deadCount?(): number;
  /**
   * Optional: a view of this store for the receiver named `name`, which sees, recovers, lists and
   * counts only its own deliveries, dead letters and dedupe ids. The receiver calls it once, so
   * that one store can serve several receivers. Closing a view releases it; the store itself
   * closes with its last view. A store without it serves one receiver only (a second receiver
   * given it throws a `TypeError`).
   * @throws {TypeError} when a receiver named `name` already uses this store.
   */
  forReceiver?(name: string): Store;
  /**
   * Optional: the import state a handler of the delivery `id` sees as `ctx.importState` (see
   * `HandlerContext.importState`): its values kept with the delivery and deleted with it,
   * and this store's sets. A store without it gives handlers state kept in memory only.
   */
  importState?(id: string): ImportState;
  /** Releases resources (file handles, connections). */
  close(): void | Promise<void>;
}
