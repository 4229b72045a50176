import { WebhookError } from '../errors.ts';
import { MemoryImportState } from '../import/memory-state.ts';
import type { ImportTracker } from '../import/progress.ts';
import type { ImportState } from '../import/types.ts';
import { safeError } from '../log.ts';
import { backoffDelay } from '../dispatch/backoff.ts';
import type { AnyEvent, AnyProvider, Delivery, Logger, ReceivedBody, WebhookEvent } from '../types.ts';
import type { WaitUntil } from '../adapters/handle-request.ts';
import type { Backend, Claimed, DeliveryCore, EnqueueResult, Outcome } from './backend.ts';
import type { Instruments } from '../telemetry/instruments.ts';
import { HandlerCaller } from './handler-call.ts';
import type { HandlerRegistry } from './handlers.ts';
import { attemptError, decide } from './policy.ts';
import { runDelivery } from './run-delivery.ts';
import { revive } from './validate.ts';

/** The receiver's settings the core works with, checked already. */
export interface CoreSettings<P extends AnyProvider> {
  readonly provider: P;
  readonly name: string;
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly attempts: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly dedupeTtlMs: number;
  readonly handlerTimeoutMs: number;
  readonly logger: Logger;
  readonly orderBy: ((event: AnyEvent<P>) => string | undefined) | undefined;
  readonly handlers: HandlerRegistry<P>;
  readonly imports: ImportTracker;
  /** Metrics and traces around each attempt (no-ops until some are attached). */
  readonly instruments: Instruments;
  readonly backend: Backend;
  /** Whether the backend runs deliveries in this process after the answer (the in-process queue): `waitUntil` is then handed them. */
  readonly runsHere: boolean;
}

/** The counters of `stats()` the core keeps. */
export interface CoreCounters {
  received: number;
  accepted: number;
  duplicates: number;
  succeeded: number;
  retried: number;
  dead: number;
}

/**
 * The delivery state machine, one for every backend: runs an attempt, decides what follows
 * (succeeded, retry after a backoff, dead letter), has the backend record it, reports it, and
 * drains on close. See {@link DeliveryCore} for the backend's side.
 */
export class ReceiverCore<P extends AnyProvider> implements DeliveryCore {
  readonly name: string;
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly attempts: number;
  readonly dedupeTtlMs: number;
  readonly logger: Logger;
  readonly counters: CoreCounters = { received: 0, accepted: 0, duplicates: 0, succeeded: 0, retried: 0, dead: 0 };
  readonly #settings: CoreSettings<P>;
  readonly #backend: Backend;
  readonly #caller: HandlerCaller;
  /** Import state for a backend that keeps none, and for `receive()` (no delivery is stored). */
  #localState: MemoryImportState | undefined;
  /** Set once close() started: a retry then runs at once rather than wait past the close. */
  #draining = false;
  /** Set once close() gave up waiting and aborted the handlers: a failure then is not an attempt. */
  #stopped = false;
  #closed: Promise<void> | undefined;
  /**
   * Deliveries a fetch handler's `waitUntil` was handed, by id: settled once the in-process queue
   * has run them (succeeded or dead letter), or once `close()` has finished.
   */
  readonly #waiters = new Map<string, () => void>();

  constructor(settings: CoreSettings<P>) {
    this.#settings = settings;
    this.name = settings.name;
    this.concurrency = settings.concurrency;
    this.maxQueued = settings.maxQueued;
    this.attempts = settings.attempts;
    this.dedupeTtlMs = settings.dedupeTtlMs;
    this.logger = settings.logger;
    this.#backend = settings.backend;
    this.#caller = new HandlerCaller(settings.handlerTimeoutMs, settings.logger, settings.imports);
  }

  /** Starts the backend; called once. */
  start(): void {
    this.#backend.start(this);
  }

  /** Whether close() has started. */
  get closing(): boolean {
    return this.#closed !== undefined;
  }

  orderKey(delivery: Delivery): string | undefined {
    const { orderBy } = this.#settings;
    if (orderBy === undefined) return undefined;
    try {
      return orderBy({ ...delivery, attempt: 1 } as AnyEvent<P>);
    } catch (error) {
      // The delivery is already accepted: run it unordered rather than lose it.
      this.logger.error({ err: error, id: delivery.id }, 'scrapehook: orderBy threw; the delivery runs unordered');
      return undefined;
    }
  }

  retryDelay(attempt: number): number {
    return backoffDelay(attempt, this.#settings.minDelayMs, this.#settings.maxDelayMs);
  }

  revive(delivery: Delivery, body: ReceivedBody): Promise<Delivery> {
    return revive(this.#settings.provider, delivery, body);
  }

  /** Whether the backend is full: requests are then answered 503 before their body is read. */
  isFull(): boolean {
    return this.#backend.counts().queued >= this.maxQueued;
  }

  /**
   * Hands an accepted delivery to the backend. `waitUntil`, when the platform has one, is handed a
   * promise that settles once the delivery has run here (or the receiver closed).
   */
  enqueue(delivery: Delivery, body: ReceivedBody | undefined, waitUntil: WaitUntil | undefined): EnqueueResult | Promise<EnqueueResult> {
    if (waitUntil === undefined || !this.#settings.runsHere || this.#waiters.has(delivery.id)) return this.#backend.enqueue(delivery, body);
    // Registered before enqueueing: the delivery may run, and finish, before enqueue settles.
    const waiters = this.#waiters;
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    waiters.set(delivery.id, settle);
    const forget = () => {
      if (waiters.get(delivery.id) === settle) waiters.delete(delivery.id);
    };
    const handOver = (outcome: EnqueueResult): EnqueueResult => {
      if (outcome === 'accepted') waitUntil(done);
      else forget();
      return outcome;
    };
    let pending: EnqueueResult | Promise<EnqueueResult>;
    try {
      pending = this.#backend.enqueue(delivery, body);
    } catch (error) {
      forget();
      throw error;
    }
    if (typeof pending === 'string') return handOver(pending);
    return pending.then(handOver, (error: unknown) => {
      forget();
      throw error;
    });
  }

  async attempt(claimed: Claimed): Promise<Outcome> {
    let delivery = claimed.delivery;
    if (claimed.body !== undefined) {
      try {
        delivery = await this.revive(delivery, claimed.body);
      } catch (error) {
        return this.#unreadable(claimed, error);
      }
    }
    const attempts = claimed.attemptsSoFar + 1;
    let outcome: Outcome;
    try {
      await this.#settings.instruments.attempt(this.#run, delivery, attempts, claimed.skip, claimed);
      outcome = { kind: 'succeeded', attempts };
    } catch (error) {
      if (this.#stopped) {
        // Cut short by close() giving up: not a failed attempt. Nothing is recorded or reported;
        // the backend keeps the delivery unfinished, and a durable one runs it at the next start.
        return { kind: 'retry', attempts: claimed.attemptsSoFar, delayMs: 0, error: attemptError(error) };
      }
      outcome = decide(attemptError(error), attempts, claimed.maxAttempts ?? this.attempts, this, this.#draining);
    }
    // A store that answers synchronously (memory, SQLite) costs no microtask.
    const recorded = this.#backend.record(claimed, outcome);
    if (recorded) await recorded;
    this.report(delivery, outcome);
    return outcome;
  }

  async restore(claimed: Claimed): Promise<Delivery | undefined> {
    if (claimed.body === undefined) return claimed.delivery;
    try {
      return await this.revive(claimed.delivery, claimed.body);
    } catch (error) {
      try {
        await this.#unreadable(claimed, error);
      } catch (recordError) {
        this.logger.error({ err: recordError, id: claimed.delivery.id }, 'scrapehook: could not record a delivery state');
      }
      return undefined;
    }
  }

  /** A kept body that no longer decodes or passes its schema: a dead letter at once, recorded and logged. */
  async #unreadable(claimed: Claimed, error: unknown): Promise<Outcome> {
    const { delivery } = claimed;
    const failure = error instanceof WebhookError ? error : new WebhookError('internal', 'A stored delivery could not be read back', { cause: error });
    this.logger.error(
      { id: delivery.id, type: delivery.type, provider: delivery.provider, err: failure },
      'scrapehook: a stored delivery no longer passes its schema; it is now a dead letter',
    );
    const outcome: Outcome = { kind: 'dead', attempts: claimed.attemptsSoFar, error: failure };
    const recorded = this.#backend.record(claimed, outcome);
    if (recorded) await recorded;
    return outcome;
  }

  /**
   * Runs every handler of a delivery once (attempt number `attempt`), skipping those in `skip`.
   * `claimed` is the backend's delivery, for its import state; `receive()` has none.
   */
  run(delivery: Delivery, attempt: number, skip: Set<unknown> | undefined, claimed: Claimed | undefined): Promise<void> {
    // Field by field: whatever else a queue or store put on the delivery stays out of the event.
    const event: WebhookEvent = { id: delivery.id, type: delivery.type, provider: delivery.provider, payload: delivery.payload, receivedAt: delivery.receivedAt, attempt };
    // Made when a handler first reads ctx.importState, once per attempt.
    let importState: ImportState | undefined;
    const state = () => (importState ??= this.#importStateOf(delivery.id, claimed));
    const handlers = this.#settings.handlers.for(delivery.type);
    if (handlers.length === 0 && !this.#warnedNoHandlers && this.#settings.handlers.empty) this.#warnNoHandlers(delivery);
    return runDelivery(handlers, this.#caller, event, state, skip);
  }

  #warnedNoHandlers = false;

  /**
   * Once per receiver: a delivery ran while no handler at all was registered. It succeeds (a
   * receiver may be a sink), but it is usually a worker that registered its handlers after an
   * `await`, while the backend was already running deliveries recovered or waiting from before.
   */
  #warnNoHandlers(delivery: Delivery): void {
    this.#warnedNoHandlers = true;
    this.logger.warn(
      { id: delivery.id, type: delivery.type, provider: delivery.provider },
      'scrapehook: a delivery ran before any handler was registered and reached none (it counts as succeeded); register handlers right after createReceiver(), before any await, so that deliveries kept from before a restart reach them',
    );
  }

  /** `run` for the instruments, bound once. */
  readonly #run = (delivery: Delivery, attempt: number, skip: Set<unknown> | undefined, claimed: unknown): Promise<void> =>
    this.run(delivery, attempt, skip, claimed as Claimed);

  #importStateOf(id: string, claimed: Claimed | undefined): ImportState {
    return (claimed ? this.#backend.importState?.(claimed) : undefined) ?? (this.#localState ??= new MemoryImportState()).forDelivery(id);
  }

  report(delivery: Delivery, outcome: Outcome): void {
    if (outcome.kind === 'succeeded') {
      this.counters.succeeded++;
      this.#settle(delivery.id);
      return;
    }
    const { attempts, error } = outcome;
    if (outcome.kind === 'retry') {
      this.counters.retried++;
      this.logger.warn(
        { id: delivery.id, type: delivery.type, provider: delivery.provider, attempt: attempts, delayMs: outcome.delayMs, err: error.cause ?? error },
        'scrapehook: a handler failed; retrying',
      );
      return;
    }
    this.counters.dead++;
    this.#settle(delivery.id);
    this.logger.error(
      { id: delivery.id, type: delivery.type, provider: delivery.provider, attempts, err: error.cause ?? error },
      'scrapehook: a delivery failed for good and is now a dead letter',
    );
    const listeners = this.#settings.handlers.error;
    if (listeners.size === 0) return;
    const event = { ...delivery, attempt: attempts } as AnyEvent<P>;
    // Listeners get the same safe copy the logger gets: their error may be reported anywhere.
    const safe = safeError(error);
    for (const listener of listeners) {
      new Promise((resolve) => resolve(listener(safe, event))).catch((listenerError: unknown) => {
        this.logger.error({ err: listenerError }, 'scrapehook: an onError listener threw; ignored');
      });
    }
  }

  #settle(id: string): void {
    const settle = this.#waiters.get(id);
    if (settle === undefined) return;
    this.#waiters.delete(id);
    settle();
  }

  /**
   * Stops accepting and drains the backend, running waiting retries at once; after `timeoutMs`,
   * aborts the handlers' signals. Then the backend releases its files and connections.
   */
  close(timeoutMs: number): Promise<void> {
    this.#closed ??= this.#close(timeoutMs);
    return this.#closed;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#draining = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const draining = this.#backend.drain();
    const drained = await Promise.race([draining.then(() => true as const), timedOut]);
    clearTimeout(timer);
    // What is left closes in the background, its handlers aborted below.
    if (!drained) draining.catch(() => {});
    // Nothing more runs here: let the platform stop waiting.
    for (const id of [...this.#waiters.keys()]) this.#settle(id);
    if (!drained) {
      const { queued, running } = this.#backend.counts();
      this.logger.error({ queued, running }, 'scrapehook: close() timed out; aborting running handlers');
      this.#stopped = true;
      this.#caller.abortAll(new WebhookError('handler.timeout', 'The receiver closed before the handler finished'));
    }
    try {
      await this.#backend.close(drained);
    } catch (error) {
      this.logger.error({ err: error }, 'scrapehook: the queue backend failed to close');
    }
  }
}
