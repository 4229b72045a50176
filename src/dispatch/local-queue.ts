import PQueue from 'p-queue';
import { shownPayload } from '../body/decode-body.ts';
import type { Backend, Claimed, DeliveryCore, EnqueueResult, Outcome } from '../core/backend.ts';
import { serialize } from '../core/policy.ts';
import { withTrace } from '../telemetry/instruments.ts';
import type { ImportState } from '../import/types.ts';
import type { Store, StoredDeadLetter, StoredDelivery } from '../store/types.ts';
import type { DeadLetter, Delivery, ReceivedBody } from '../types.ts';

/** A delivery in this queue, as the core sees it when it runs. */
interface Entry extends Claimed {
  readonly delivery: Delivery;
  attemptsSoFar: number;
  /** Set for a replay: its one attempt is its last. */
  readonly maxAttempts: number | undefined;
  /** Handlers that already succeeded for this delivery, not run again on a retry. */
  readonly skip: Set<unknown>;
  /** The ordering key, if the receiver has `orderBy`. */
  readonly key: string | undefined;
}

/**
 * The in-process queue, a backend over a {@link Store}: p-queue bounds concurrency; this class
 * bounds the number waiting (p-queue has no bound of its own), schedules retries on timers outside
 * the queue so that waiting retries hold no concurrency slot, runs deliveries of one ordering key
 * one at a time, and writes every state change to the store. What follows an attempt is the
 * core's decision (`core.attempt()`).
 */
export class LocalQueue implements Backend<Entry> {
  readonly #store: Store;
  #core!: DeliveryCore;
  #queue!: PQueue;
  /** Deliveries in the p-queue, waiting behind their ordering key, or waiting for a retry timer. */
  #waiting = 0;
  #running = 0;
  /** Slots taken by enqueues whose store write has not settled yet. */
  #reserved = 0;
  readonly #timers = new Map<NodeJS.Timeout, Entry>();
  /** Per ordering key, the deliveries waiting behind the one that holds the key. */
  readonly #lines = new Map<string, Entry[]>();
  #closing = false;
  /**
   * close() gave up waiting (its timeout passed): nothing more runs in this process. A delivery
   * cut short then is not a failed attempt: it stays as the store has it, and runs at the next start.
   */
  #stopped = false;
  #recovered: Promise<void> = Promise.resolve();
  readonly #idleWaiters = new Set<() => void>();
  /** Dead letters kept, for a store without `deadCount()`: counted at start, then kept in step. */
  #dead = 0;
  /** Stops watching the store for deliveries re-queued from outside (`Store.watch`). */
  #unwatch: (() => void) | undefined;
  /** Deliveries accepted and not started yet: started together once their answers are written (see #accepted). */
  readonly #starting: Delivery[] = [];

  constructor(store: Store) {
    this.#store = store;
  }

  importState(claimed: Claimed): ImportState | undefined {
    return this.#store.importState?.(claimed.delivery.id);
  }

  start(core: DeliveryCore): void {
    this.#core = core;
    this.#queue = new PQueue({ concurrency: core.concurrency });
    this.#recovered = this.#recover().catch((error: unknown) => {
      // The receiver still takes new deliveries; what was stored stays there for the next start.
      core.logger.error({ err: error }, 'scrapehook: could not re-queue the deliveries kept by the store');
    });
  }

  enqueue(delivery: Delivery, body?: ReceivedBody): EnqueueResult | Promise<EnqueueResult> {
    if (this.#waiting + this.#reserved >= this.#core.maxQueued) return 'full';
    const accepted = this.#store.accept(delivery, this.#core.dedupeTtlMs, body);
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

  record(claimed: Claimed, outcome: Outcome): void | Promise<void> {
    const { id } = claimed.delivery;
    const { attempts } = outcome;
    if (outcome.kind === 'succeeded') return this.#store.update(id, { state: 'succeeded', attempts });
    if (outcome.kind === 'retry') return this.#store.update(id, { state: 'queued', attempts, error: serialize(outcome.error) });
    const recorded = this.#store.update(id, { state: 'dead', attempts, error: serialize(outcome.error) });
    if (!recorded) {
      this.#dead++;
      return;
    }
    return recorded.then(() => void this.#dead++);
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
    const delivery = letter.body ? await this.#core.revive(kept, letter.body) : kept;
    // One more attempt, whatever the count: a failure leaves it a dead letter.
    const entry: Entry = { delivery, attemptsSoFar: letter.attempts, maxAttempts: letter.attempts + 1, skip: new Set(), key: undefined };
    this.#dead--;
    this.#waiting++;
    await this.#queue
      .add(async () => {
        this.#waiting--;
        this.#running++;
        try {
          const outcome = await this.#attempt(entry);
          if (outcome.kind !== 'succeeded') throw outcome.error;
        } finally {
          this.#running--;
        }
      })
      .finally(() => this.#checkIdle());
  }

  async onIdle(): Promise<void> {
    await this.#recovered;
    if (this.#idle()) return;
    await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
  }

  drain(): Promise<void> {
    this.#closing = true;
    this.#unwatch?.();
    // Cut waiting backoffs short: run every pending retry now rather than drop it.
    for (const [timer, entry] of this.#timers) {
      clearTimeout(timer);
      this.#timers.delete(timer);
      this.#waiting--;
      this.#schedule(entry);
    }
    return this.onIdle();
  }

  async close(drained: boolean): Promise<void> {
    // Not drained: the core is aborting the running handlers. What still waits must not run (and
    // fail at once on an aborted signal) in a closed receiver: it stays unfinished in the store.
    if (!drained) this.#stopped = true;
    this.#queue.clear();
    // The store was given to this receiver: release its file or connection. What did not finish
    // stays unfinished in a durable store and runs at the next start.
    try {
      await this.#store.close();
    } catch (error) {
      this.#core.logger.error({ err: error }, 'scrapehook: the store failed to close');
    }
  }

  #accepted(delivery: Delivery, accepted: boolean): EnqueueResult {
    if (!accepted) return 'duplicate';
    // Started once the answer is written: p-queue calls a task as it is added, so a handler's
    // synchronous work (parsing, a sync library call) held up the 2xx for as long as it ran. An
    // accept happens in a promise reaction, and every adapter writes its answer in the reactions
    // that follow; process.nextTick runs once those have all run. (setImmediate, at the end of the
    // event loop's turn, kept each delivery's payload alive across many more requests under load:
    // 5x the bytes outliving a minor GC, bench/profile.mjs --heap --survivors.) Counted as waiting
    // meanwhile, for maxQueued and onIdle().
    this.#waiting++;
    if (this.#starting.push(delivery) === 1) process.nextTick(this.#start);
    return 'accepted';
  }

  /** Starts the deliveries accepted since the last start, in their order. */
  readonly #start = (): void => {
    const starting = this.#starting;
    // By index, over the same array each time (no array per start); one accepted while these
    // start would join this loop.
    for (let i = 0; i < starting.length; i++) {
      this.#waiting--;
      this.#admit(starting[i]!, 0);
    }
    starting.length = 0;
  };

  /** Schedules a delivery, or queues it behind the delivery holding its ordering key. */
  #admit(delivery: Delivery, attempts: number): void {
    const key = this.#core.orderKey(delivery);
    const entry: Entry = { delivery, attemptsSoFar: attempts, maxAttempts: undefined, skip: new Set(), key };
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
    // Revived first (their ordering key reads the payload), admitted after in one go: in their
    // order, ahead of anything accepted meanwhile. One that no longer validates is a dead letter.
    const revived = await Promise.all(unfinished.map((stored) => this.#core.restore(claimedOf(stored))));
    for (let i = 0; i < unfinished.length; i++) {
      const delivery = revived[i];
      if (delivery) this.#admit(delivery, unfinished[i]!.attempts);
    }
    if (unfinished.length > 0) {
      this.#core.logger.info({ count: unfinished.length }, 'scrapehook: re-queued deliveries accepted before a restart');
    }
    // After recovery, so that a delivery re-queued before the start is not admitted twice.
    if (this.#closing) return;
    this.#unwatch = this.#store.watch?.((stored) => {
      this.#dead--; // A dead letter re-queued from outside.
      if (this.#closing) return; // It stays queued in the store and runs at the next start.
      this.#core.logger.info({ id: stored.id }, 'scrapehook: running a delivery re-queued from outside (replay)');
      void this.#core.restore(claimedOf(stored)).then((delivery) => {
        if (delivery && !this.#closing) this.#admit(delivery, stored.attempts);
      });
    });
  }

  /** A dead letter as `deadLetters()` lists it: a body kept as received is shown validated, or else decoded. */
  async #showDeadLetter(letter: StoredDeadLetter): Promise<DeadLetter> {
    const { id, event, error, attempts, body } = letter;
    if (!body) return { id, event, error, attempts };
    return { id, event: { ...event, payload: await shownPayload(event, body, (d, b) => this.#core.revive(d, b)) }, error, attempts };
  }

  #schedule(entry: Entry): void {
    if (this.#stopped) return;
    this.#waiting++;
    // #run never rejects, so the promise p-queue answers needs no handler.
    void this.#queue.add(() => this.#run(entry));
  }

  async #run(entry: Entry): Promise<void> {
    this.#waiting--;
    this.#running++;
    try {
      const outcome = await this.#attempt(entry);
      entry.attemptsSoFar = outcome.attempts;
      if (outcome.kind === 'retry') this.#retryLater(entry, outcome.delayMs);
      else this.#finished(entry);
    } catch (error) {
      // Only a failing store write can land here; the delivery stays unfinished in a durable store.
      this.#core.logger.error({ err: error, id: entry.delivery.id }, 'scrapehook: could not record a delivery state');
    } finally {
      this.#running--;
      this.#checkIdle();
    }
  }

  /** Marks a delivery running in the store, with the attempt about to start. */
  #markRunning(entry: Entry): void | Promise<void> {
    try {
      // A store that answers synchronously (memory, SQLite) costs no promise nor microtask.
      const marked = this.#store.update(entry.delivery.id, { state: 'running', attempts: entry.attemptsSoFar + 1 });
      if (marked) return marked.catch((error: unknown) => this.#markFailed(entry, error));
    } catch (error) {
      this.#markFailed(entry, error);
    }
  }

  #markFailed(entry: Entry, error: unknown): void {
    // Only the count of attempts after a crash depends on it: the handlers run anyway.
    this.#core.logger.error({ err: error, id: entry.delivery.id }, 'scrapehook: could not record a delivery state');
  }

  /** Marks the delivery running and has the core run one attempt. No promise of its own for a synchronous store. */
  #attempt(entry: Entry): Promise<Outcome> {
    const marked = this.#markRunning(entry);
    return marked ? marked.then(() => this.#core.attempt(entry)) : this.#core.attempt(entry);
  }

  #retryLater(entry: Entry, delayMs: number): void {
    if (this.#closing || delayMs === 0) {
      this.#schedule(entry);
      return;
    }
    this.#waiting++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#waiting--;
      this.#schedule(entry);
    }, delayMs);
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

/** A delivery the store kept, as the core reads it back. */
function claimedOf(stored: StoredDelivery): Claimed {
  const delivery: Delivery = withTrace(stored, { id: stored.id, type: stored.type, provider: stored.provider, payload: stored.payload, receivedAt: stored.receivedAt });
  return stored.body ? { delivery, body: stored.body, attemptsSoFar: stored.attempts } : { delivery, attemptsSoFar: stored.attempts };
}
