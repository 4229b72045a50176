import { WebhookError } from '../errors.ts';
import { PROGRESS, type ImportTracker } from '../import/progress.ts';
import type { ImportState } from '../import/types.ts';
import type { HandlerContext, Logger, WebhookEvent } from '../types.ts';
import type { AnyHandler } from './handlers.ts';

// The call's own methods, keyed by symbols: out of sight of the handler that gets the context.
const WATCH = Symbol('watch');
const EXPIRE = Symbol('expire');
const SETTLE = Symbol('settle');
const DEADLINE = Symbol('deadline');
// Links of the list of calls in progress, oldest first (see HandlerCaller).
const OLDER = Symbol('older');
const NEWER = Symbol('newer');

/** What every call of one {@link HandlerCaller} shares, held by each call's context. */
interface Shared {
  readonly timeoutMs: number;
  readonly logger: Logger;
  readonly imports: ImportTracker;
  /** Aborted once `close()` gave up waiting: signals read later start aborted. */
  readonly closed: AbortController;
  /** Controllers of calls in progress whose handler read `ctx.signal`. */
  readonly controllers: Set<AbortController>;
}

/**
 * The context of one handler call, and the call's watch for its timeout. A class with its getters
 * on the prototype: an object literal with getters and a symbol key made per call cost a new
 * hidden class and closures each time, and under load made V8 promote every request's objects to
 * the old generation (bench/profile.mjs --heap --survivors: 5.4 KB per request, now 1.5 KB).
 */
class CallContext implements HandlerContext {
  readonly #shared: Shared;
  readonly #type: string;
  readonly #importState: () => ImportState;
  /** Made only when the handler reads `signal`: an AbortController costs more than the rest of a call. */
  #controller: AbortController | undefined = undefined;
  #abortedBy: unknown = undefined;
  /** When it times out, on `performance.now()`'s clock (set when the handler answered a promise). */
  #deadline = 0;
  /** Fails the call's promise (set when the handler answered a promise). */
  #reject: ((reason: unknown) => void) | undefined = undefined;
  /** Its neighbours in the caller's list of calls in progress, while it is in it. */
  [OLDER]: CallContext | undefined = undefined;
  [NEWER]: CallContext | undefined = undefined;

  constructor(shared: Shared, type: string, importState: () => ImportState) {
    this.#shared = shared;
    this.#type = type;
    this.#importState = importState;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController());
      const { closed, controllers } = this.#shared;
      if (this.#abortedBy !== undefined) controller.abort(this.#abortedBy);
      else if (closed.signal.aborted) controller.abort(closed.signal.reason);
      else controllers.add(controller);
    }
    return this.#controller.signal;
  }

  get logger(): Logger {
    return this.#shared.logger;
  }

  get importState(): ImportState {
    return this.#importState();
  }

  /** For importRows: where it reports progress (stats().imports), out of the public context's type. */
  get [PROGRESS](): ImportTracker {
    return this.#shared.imports;
  }

  /** Watches the call until it settles: `reject` fails it at its deadline. */
  [WATCH](deadline: number, reject: (reason: unknown) => void): void {
    this.#deadline = deadline;
    this.#reject = reject;
  }

  get [DEADLINE](): number {
    return this.#deadline;
  }

  /** Aborts its signal and fails the call with `handler.timeout`. */
  [EXPIRE](): void {
    const { timeoutMs, controllers } = this.#shared;
    this.#abortedBy = new WebhookError('handler.timeout', `A ${this.#type} handler took longer than ${timeoutMs} ms`);
    if (this.#controller) {
      this.#controller.abort(this.#abortedBy);
      controllers.delete(this.#controller);
    }
    this.#reject?.(this.#abortedBy);
  }

  /** The call is over: its signal no longer needs aborting by `abortAll`. */
  [SETTLE](): void {
    if (this.#controller) this.#shared.controllers.delete(this.#controller);
  }
}

/**
 * Calls handlers with their context, each bounded by the handler timeout: when it passes, the
 * call's `ctx.signal` is aborted and the call fails with `handler.timeout`. {@link abortAll} aborts
 * every call in progress (and any made after), for a `close()` that gave up waiting.
 */
export class HandlerCaller {
  readonly #shared: Shared;
  /**
   * Calls in progress, in the order they started: a list linked through the calls themselves.
   * Every call has the same timeout, so their deadlines are in that order too: one timer, armed
   * for the oldest call, watches them all (a timer per call cost more than the rest of the call's
   * bookkeeping). Not a Set: one that each call entered and left allocated a new table nearly
   * every time it emptied, and that table outlived the next minor GC.
   */
  #oldest: CallContext | undefined = undefined;
  #newest: CallContext | undefined = undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, logger: Logger, imports: ImportTracker) {
    this.#shared = { timeoutMs, logger, imports, closed: new AbortController(), controllers: new Set() };
  }

  /**
   * Calls `handler`: resolves or rejects as it does, or rejects with `handler.timeout` when it
   * takes longer than the timeout. `importState` is read when the handler first reads
   * `ctx.importState`.
   */
  call(handler: AnyHandler, event: WebhookEvent, importState: () => ImportState): Promise<unknown> {
    const ctx = new CallContext(this.#shared, event.type, importState);
    let result: unknown;
    try {
      result = handler(event, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    // A handler that answered synchronously is done: nothing to time out.
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') return Promise.resolve(result);
    const timeoutMs = this.#shared.timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      ctx[WATCH](performance.now() + timeoutMs, reject);
      this.#link(ctx);
      // Unref'd: the handler's own I/O keeps the process alive, not this watch.
      this.#sweepTimer ??= setTimeout(this.#sweep, timeoutMs).unref();
      (result as PromiseLike<unknown>).then(
        (value) => {
          this.#unlink(ctx);
          ctx[SETTLE]();
          resolve(value);
        },
        (error: unknown) => {
          this.#unlink(ctx);
          ctx[SETTLE]();
          reject(error);
        },
      );
    });
  }

  /** Aborts the signal of every call in progress, and of every call made from now on, with `reason`. */
  abortAll(reason: WebhookError): void {
    const { closed, controllers } = this.#shared;
    closed.abort(reason);
    for (const controller of controllers) controller.abort(reason);
    controllers.clear();
  }

  /** Adds a call, the newest, to the calls in progress. */
  #link(call: CallContext): void {
    const newest = this.#newest;
    call[OLDER] = newest;
    if (newest === undefined) this.#oldest = call;
    else newest[NEWER] = call;
    this.#newest = call;
  }

  /** Takes a call out of the calls in progress; nothing when it is not in them (expired already). */
  #unlink(call: CallContext): void {
    const older = call[OLDER];
    const newer = call[NEWER];
    if (older === undefined && newer === undefined && this.#oldest !== call) return;
    if (older === undefined) this.#oldest = newer;
    else older[NEWER] = newer;
    if (newer === undefined) this.#newest = older;
    else newer[OLDER] = older;
    call[OLDER] = call[NEWER] = undefined;
  }

  /** Expires the calls past their deadline; re-arms for the oldest one left. */
  readonly #sweep = (): void => {
    this.#sweepTimer = undefined;
    const now = performance.now();
    for (let call = this.#oldest; call !== undefined; call = this.#oldest) {
      if (call[DEADLINE] > now) {
        this.#sweepTimer = setTimeout(this.#sweep, call[DEADLINE] - now).unref();
        return;
      }
      this.#unlink(call);
      call[EXPIRE]();
    }
  };
}
