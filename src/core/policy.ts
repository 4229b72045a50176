import { WebhookError } from '../errors.ts';
import { safeError } from '../log.ts';
import type { SerializedError } from '../types.ts';
import type { Outcome } from './backend.ts';

/** What {@link decide} needs to know besides the error. */
export interface RetryPolicy {
  /** Attempts per delivery, the first included. */
  readonly attempts: number;
  /** The backoff before the attempt after `attempt`. */
  retryDelay(attempt: number): number;
}

/**
 * The decision after a failed attempt: a dead letter when it was the last attempt allowed or its
 * error says retrying cannot help ({@link isFinal}); else a retry after the backoff, at once while
 * the receiver drains (a waiting retry runs rather than waits past the close).
 */
export function decide(error: WebhookError, attempts: number, maxAttempts: number, policy: RetryPolicy, draining: boolean): Outcome {
  if (attempts >= maxAttempts || isFinal(error)) return { kind: 'dead', attempts, error };
  return { kind: 'retry', attempts, delayMs: draining ? 0 : policy.retryDelay(attempts), error };
}

/** Any failure of an attempt as the WebhookError the core reports: a handler's own error is wrapped. */
export function attemptError(error: unknown): WebhookError {
  return error instanceof WebhookError ? error : new WebhookError('handler.failed', 'A handler failed', { cause: error });
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

/** Keeps what an operator needs of an error, without payload contents: what a backend records. */
export function serialize(error: WebhookError): SerializedError {
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
