import PQueue from 'p-queue';
import { WebhookError } from '../errors.ts';
import { shownPayload } from '../body/decode-body.ts';
import { safeError } from '../log.ts';
import { MemoryImportState } from '../import/memory-state.ts';
import { withTrace } from '../telemetry/instruments.ts';
import type { ImportState } from '../import/types.ts';
import type { Store, StoredDeadLetter, StoredDelivery } from '../store/types.ts';
import type { DeadLetter, Delivery, ReceivedBody } from '../types.ts';
import type { EnqueueResult, QueueRuntime, ReceiverQueue } from './queue.ts';

interface Entry {
  readonly delivery: Delivery;
  attempts: number;
  /** Handlers that already succeeded for this delivery, not run again on a retry. */
  readonly done: Set<unknown>;
  /** The ordering key, if the receiver has `orderBy`. */
  readonly key: string | undefined;
}

/**
 * The in-process queue: p-queue bounds concurrency; this class bounds the number waiting
 * (p-queue has no bound of its own), schedules retries with backoff on timers outside the queue
 * so that waiting retries hold no concurrency slot, and writes every state change to the store.
 */
export class LocalQueue implements ReceiverQueue {
  readonly #store: Store;
  #runtime!: QueueRuntime;
  #queue!: PQueue;
  /** Deliveries in the p-queue or waiting for a retry timer. */
  #waiting = 0;
  #running = 0;
  /** Slots taken by enqueues whose store write has not settled yet. */
  #reserved = 0;
  readonly #timers = new Map<NodeJS.Timeout, Entry>();
  /** Per ordering key, the deliveries waiting behind the one that holds the key. */
  readonly #lines = new Map<string, Entry[]>();
  #closing = false;
  #recovered: Promise<void> = Promise.resolve();
  readonly #idleWaiters = new Set<() => void>();
  /** Dead letters kept, for a store without `deadCount()`: counted at start, then kept in step. */
  #dead = 0;
  /** Stops watching the store for deliveries re-queued from outside (`Store.watch`). */
  #unwatch: (() => void) | undefined;

  /** Import state for a store that keeps none (no `Store.importState`): in memory. */
  #localState: MemoryImportState | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  importState(delivery: Delivery): ImportState {
    return this.#store.importState?.(delivery.id) ?? (this.#localState ??= new MemoryImportState()).forDelivery(delivery.id);
  }

  start(runtime: QueueRuntime): void {
    this.#runtime = runtime;
    this.#queue = new PQueue({ concurrency: runtime.concurrency });
    this.#recovered = this.#recover().catch((error: unknown) => {
      // The receiver still takes new deliveries; what was stored stays there for the next start.
      runtime.logger.error({ err: error }, 'scrapehook: could not re-queue the deliveries kept by the store');
    });
  }

  enqueue(delivery: Delivery, body?: ReceivedBody): EnqueueResult | Promise<EnqueueResult> {
    if (this.#waiting + this.#reserved >= this.#runtime.maxQueued) return 'full';
    const accepted = this.#store.accept(delivery, this.#runtime.dedupeTtlMs, body);
    if (typeof accepted === 'boolean') return this.#accepted(delivery, accepted);
    this.#reserved++;
    return accepted.then(
      (ok) => {
        this.#reserved--;
        return this.#accepted(delivery, ok);
      },
      (error: unknown) => {
        this.#reserved--;
        throw error;
      },
    );
  }

  counts(): { queued: number; running: number } {
    return { queued: this.#waiting, running: this.#running };
  }

  deadCount(): number {
    return this.#store.deadCount?.() ?? this.#dead;
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return Promise.all((await this.#store.deadLetters()).map((letter) => this.#showDeadLetter(letter)));
  }

  async replay(id: string): Promise<void> {
    const letter = (await this.#store.deadLetters()).find((l) => l.id === id);
    if (!letter) throw new RangeError(`No dead letter with id ${JSON.stringify(id)}`);
    const { attempt: _attempt, ...kept } = letter.event;
    // A body kept as received is validated again: an invalid one rejects and stays a dead letter.
    const delivery = letter.body ? await this.#runtime.revive(kept, letter.body) : kept;
    const entry: Entry = { delivery, attempts: letter.attempts, done: new Set(), key: undefined };
    this.#dead--;
    this.#waiting++;
    await this.#queue
      .add(async () => {
        this.#waiting--;
        const error = await this.#attempt(entry);
        if (error) {
          await this.#store.update(delivery.id, { state: 'dead', attempts: entry.attempts, error: serialize(error) });
          this.#dead++;
          throw error;
        }
      })
      .finally(() => this.#checkIdle());
  }

  async onIdle(): Promise<void> {
    await this.#recovered;
    if (this.#idle()) return;
    await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
  }

  async close(timeoutMs: number): Promise<boolean> {
    this.#closing = true;
    this.#unwatch?.();
    // Cut waiting backoffs short: run every pending retry now rather than drop it.
    for (const [timer, entry] of this.#timers) {
      clearTimeout(timer);
      this.#timers.delete(timer);
      this.#waiting--;
      this.#schedule(entry);
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref?.();
    });
    const drained = await Promise.race([this.onIdle().then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (drained) this.#queue.clear();
    // The store was given to this receiver: release its file or connection. What did not finish
    // stays unfinished in a durable store and runs at the next start.
    try {
      await this.#store.close();
    } catch (error) {
      this.#runtime.logger.error({ err: error }, 'scrapehook: the store failed to close');
    }
    return drained;
  }

  #accepted(delivery: Delivery, accepted: boolean): EnqueueResult {
    if (!accepted) return 'duplicate';
    this.#admit(delivery, 0);
    return 'accepted';
  }

  /** Schedules a delivery, or queues it behind the delivery holding its ordering key. */
  #admit(delivery: Delivery, attempts: number): void {
    const key = this.#runtime.orderKey(delivery);
    const entry: Entry = { delivery, attempts, done: new Set(), key };
    if (key !== undefined) {
      const line = this.#lines.get(key);
      if (line) {
        line.push(entry);
        this.#waiting++;
        return;
      }
      this.#lines.set(key, []);
    }
    this.#schedule(entry);
  }

  /** A delivery is finished (succeeded or dead): let the next one with its key go. */
  #finished(entry: Entry): void {
    if (entry.key === undefined) return;
    const line = this.#lines.get(entry.key);
    const next = line?.shift();
    if (next === undefined) {
      this.#lines.delete(entry.key);
      return;
    }
    this.#waiting--;
    this.#schedule(next);
  }

  async #recover(): Promise<void> {
    // Dead letters are stored state: counted from the store, not from zero at each start.
    if (!this.#store.deadCount) this.#dead += (await this.#store.deadLetters()).length;
    const unfinished = await this.#store.unfinished();
    // Revived first, admitted after in one go: in their order, ahead of anything accepted meanwhile.
    const revived = await Promise.all(unfinished.map((stored) => this.#revive(stored)));
    for (let i = 0; i < unfinished.length; i++) {
      const delivery = revived[i];
      if (delivery) this.#admit(delivery, unfinished[i]!.attempts);
    }
    if (unfinished.length > 0) {
      this.#runtime.logger.info({ count: unfinished.length }, 'scrapehook: re-queued deliveries accepted before a restart');
    }
    // After recovery, so that a delivery re-queued before the start is not admitted twice.
    if (this.#closing) return;
    this.#unwatch = this.#store.watch?.((stored) => {
      this.#dead--; // A dead letter re-queued from outside.
      if (this.#closing) return; // It stays queued in the store and runs at the next start.
      this.#runtime.logger.info({ id: stored.id }, 'scrapehook: running a delivery re-queued from outside (replay)');
      void this.#revive(stored).then((delivery) => {
        if (delivery && !this.#closing) this.#admit(delivery, stored.attempts);
      });
    });
  }

  /**
   * A stored delivery as handlers need it. A body kept as received is decoded and validated again;
   * if it no longer passes (the schema changed since), the delivery becomes a dead letter with the
   * validation error and `undefined` is answered.
   */
  async #revive(stored: StoredDelivery): Promise<Delivery | undefined> {
    const delivery: Delivery = withTrace(stored, { id: stored.id, type: stored.type, provider: stored.provider, payload: stored.payload, receivedAt: stored.receivedAt });
    if (!stored.body) return delivery;
    try {
      return await this.#runtime.revive(delivery, stored.body);
    } catch (error) {
      const failure = error instanceof WebhookError ? error : new WebhookError('internal', 'A stored delivery could not be read back', { cause: error });
      this.#runtime.logger.error(
        { id: stored.id, type: stored.type, provider: stored.provider, err: failure },
        'scrapehook: a stored delivery no longer passes its schema; it is now a dead letter',
      );
      try {
        await this.#store.update(stored.id, { state: 'dead', attempts: stored.attempts, error: serialize(failure) });
        this.#dead++;
      } catch (updateError) {
        this.#runtime.logger.error({ err: updateError, id: stored.id }, 'scrapehook: could not record a delivery state');
      }
      return undefined;
    }
  }

  /** A dead letter as `deadLetters()` lists it: a body kept as received is shown validated, or else decoded. */
  async #showDeadLetter(letter: StoredDeadLetter): Promise<DeadLetter> {
    const { id, event, error, attempts, body } = letter;
    if (!body) return { id, event, error, attempts };
    return { id, event: { ...event, payload: await shownPayload(event, body, (d, b) => this.#runtime.revive(d, b)) }, error, attempts };
  }

  #schedule(entry: Entry): void {
    this.#waiting++;
    // #run never rejects, so the promise p-queue answers needs no handler.
    void this.#queue.add(() => this.#run(entry));
  }

  async #run(entry: Entry): Promise<void> {
    this.#waiting--;
    try {
      const error = await this.#attempt(entry);
      if (error) await this.#failed(entry, error);
      else this.#finished(entry);
    } catch (error) {
      // Only a failing store write can land here; the delivery stays unfinished in a durable store.
      this.#runtime.logger.error({ err: error, id: entry.delivery.id }, 'scrapehook: could not record a delivery state');
    } finally {
      this.#checkIdle();
    }
  }

  /** Runs one attempt; answers the error when it failed. */
  async #attempt(entry: Entry): Promise<WebhookError | undefined> {
    const { delivery } = entry;
    entry.attempts++;
    this.#running++;
    try {
      // A store that answers synchronously (memory, SQLite) costs no microtask.
      const marked = this.#store.update(delivery.id, { state: 'running', attempts: entry.attempts });
      if (marked) await marked;
      await this.#runtime.run(delivery, entry.attempts, entry.done);
    } catch (error) {
      return error instanceof WebhookError ? error : new WebhookError('handler.failed', 'A handler failed', { cause: error });
    } finally {
      this.#running--;
    }
    const recorded = this.#store.update(delivery.id, { state: 'succeeded', attempts: entry.attempts });
    if (recorded) await recorded;
    this.#runtime.succeeded(delivery, entry.attempts);
    return undefined;
  }

  async #failed(entry: Entry, error: WebhookError): Promise<void> {
    const { delivery, attempts } = entry;
    // A handler error that says retrying cannot help (an ImportError for a bad token or a job
    // gone) makes a dead letter at once.
    if (attempts >= this.#runtime.attempts || isFinal(error)) {
      await this.#store.update(delivery.id, { state: 'dead', attempts, error: serialize(error) });
      this.#dead++;
      this.#runtime.dead(delivery, attempts, error);
      this.#finished(entry);
      return;
    }
    await this.#store.update(delivery.id, { state: 'queued', attempts, error: serialize(error) });
    if (this.#closing) {
      this.#runtime.retrying(delivery, attempts, error, 0);
      this.#schedule(entry);
      return;
    }
    const delay = this.#runtime.retryDelay(attempts);
    this.#runtime.retrying(delivery, attempts, error, delay);
    this.#waiting++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#waiting--;
      this.#schedule(entry);
    }, delay);
    this.#timers.set(timer, entry);
  }

  #idle(): boolean {
    return this.#waiting === 0 && this.#running === 0 && this.#reserved === 0;
  }

  #checkIdle(): void {
    if (!this.#idle()) return;
    for (const resolve of this.#idleWaiters) resolve();
    this.#idleWaiters.clear();
  }
}

/**
 * Whether a failed attempt must not be retried: a handler threw an error with `retryable: false`
 * (an `ImportError` for a bad API token or a job that is gone). With several handlers, one such
 * error is enough: retrying would fail the same way.
 */
export function isFinal(error: WebhookError): boolean {
  const notRetryable = (e: unknown): boolean =>
    typeof e === 'object' && e !== null && ((e as { retryable?: unknown }).retryable === false || (e instanceof AggregateError && e.errors.some(notRetryable)));
  return notRetryable(error.cause);
}

/** Keeps what an operator needs of an error, without payload contents. */
export function serialize(error: WebhookError): { type: string; message: string; stack?: string } {
  // Dead letters are shown by deadLetters() and the CLI: no credentials from a cause's message.
  error = safeError(error);
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const out: { type: string; message: string; stack?: string } = {
    type: error.type,
    message: cause ? `${error.message}: ${cause.message}` : error.message,
  };
  const stack = cause?.stack ?? error.stack;
  if (stack !== undefined) out.stack = stack;
  return out;
}
