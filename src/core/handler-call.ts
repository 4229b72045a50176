import { WebhookError } from '../errors.ts';
import { PROGRESS, type ImportTracker } from '../import/progress.ts';
import type { ImportState } from '../import/types.ts';
import type { HandlerContext, Logger, WebhookEvent } from '../types.ts';
import type { AnyHandler } from './handlers.ts';

/** A handler call being watched for its timeout. */
interface Watched {
  /** When it times out, on `performance.now()`'s clock. */
  readonly deadline: number;
  /** Aborts its signal and fails the call with `handler.timeout`. */
  expire(): void;
}

/**
 * Calls handlers with their context, each bounded by the handler timeout: when it passes, the
 * call's `ctx.signal` is aborted and the call fails with `handler.timeout`. {@link abortAll} aborts
 * every call in progress (and any made after), for a `close()` that gave up waiting.
 */
export class HandlerCaller {
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #imports: ImportTracker;
  /** Aborted once `close()` gave up waiting: signals read later start aborted. */
  readonly #closed = new AbortController();
  /** Controllers of calls in progress whose handler read `ctx.signal`. */
  readonly #controllers = new Set<AbortController>();
  /**
   * Calls in progress, in the order they started. Every call has the same timeout, so their
   * deadlines are in that order too: one timer, armed for the oldest call, watches them all (a
   * timer per call cost more than the rest of the call's bookkeeping).
   */
  readonly #inProgress = new Set<Watched>();
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, logger: Logger, imports: ImportTracker) {
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
    this.#imports = imports;
  }

  /**
   * Calls `handler`: resolves or rejects as it does, or rejects with `handler.timeout` when it
   * takes longer than the timeout. `importState` is read when the handler first reads
   * `ctx.importState`.
   */
  call(handler: AnyHandler, event: WebhookEvent, importState: () => ImportState): Promise<unknown> {
    const closed = this.#closed.signal;
    const controllers = this.#controllers;
    // The AbortController is made only when the handler reads ctx.signal: most handlers never do,
    // and an AbortController costs more than the rest of a call (EventTarget set-up).
    let controller: AbortController | undefined;
    let abortedBy: unknown;
    const ctx: HandlerContext & { readonly [PROGRESS]: ImportTracker } = {
      get signal() {
        if (controller === undefined) {
          controller = new AbortController();
          if (abortedBy !== undefined) controller.abort(abortedBy);
          else if (closed.aborted) controller.abort(closed.reason);
          else controllers.add(controller);
        }
        return controller.signal;
      },
      logger: this.#logger,
      get importState() {
        return importState();
      },
      // For importRows: where it reports progress (stats().imports), out of the public context's type.
      [PROGRESS]: this.#imports,
    };
    let result: unknown;
    try {
      result = handler(event, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    // A handler that answered synchronously is done: nothing to time out.
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') return Promise.resolve(result);
    const timeoutMs = this.#timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const call: Watched = {
        deadline: performance.now() + timeoutMs,
        expire() {
          abortedBy = new WebhookError('handler.timeout', `A ${event.type} handler took longer than ${timeoutMs} ms`);
          if (controller) {
            controller.abort(abortedBy);
            controllers.delete(controller);
          }
          reject(abortedBy);
        },
      };
      this.#inProgress.add(call);
      // Unref'd: the handler's own I/O keeps the process alive, not this watch.
      this.#sweepTimer ??= setTimeout(this.#sweep, timeoutMs).unref();
      const settle = () => {
        this.#inProgress.delete(call);
        if (controller) controllers.delete(controller);
      };
      (result as PromiseLike<unknown>).then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /** Aborts the signal of every call in progress, and of every call made from now on, with `reason`. */
  abortAll(reason: WebhookError): void {
    this.#closed.abort(reason);
    for (const controller of this.#controllers) controller.abort(reason);
    this.#controllers.clear();
  }

  /** Expires the calls past their deadline; re-arms for the oldest one left. */
  readonly #sweep = (): void => {
    this.#sweepTimer = undefined;
    const now = performance.now();
    for (const call of this.#inProgress) {
      if (call.deadline > now) {
        this.#sweepTimer = setTimeout(this.#sweep, call.deadline - now).unref();
        return;
      }
      this.#inProgress.delete(call);
      call.expire();
    }
  };
}
