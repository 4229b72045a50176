import { WebhookError } from '../errors.ts';
import type { ImportState } from '../import/types.ts';
import type { WebhookEvent } from '../types.ts';
import type { HandlerCaller } from './handler-call.ts';
import type { AnyHandler } from './handlers.ts';

/**
 * Runs one attempt of a delivery: every handler in `handlers` at once, except those in `skip`
 * (they succeeded in an earlier attempt); those that succeed now are added to `skip`. Resolves
 * when all succeeded; rejects with a `handler.timeout` WebhookError when the only failure is a
 * timeout, else a `handler.failed` WebhookError whose cause is the handler's error (an
 * `AggregateError` when several failed).
 */
export async function runDelivery(
  handlers: readonly AnyHandler[],
  caller: HandlerCaller,
  event: WebhookEvent,
  importState: () => ImportState,
  skip: Set<unknown> | undefined,
): Promise<void> {
  if (handlers.length === 1) {
    // The common case, without the bookkeeping of several handlers.
    const handler = handlers[0]!;
    if (skip?.has(handler)) return;
    try {
      await caller.call(handler, event, importState);
    } catch (error) {
      throw error instanceof WebhookError ? error : new WebhookError('handler.failed', `A ${event.type} handler failed`, { cause: error });
    }
    skip?.add(handler);
    return;
  }
  const errors: unknown[] = [];
  await Promise.all(
    handlers.map((handler) =>
      skip?.has(handler)
        ? undefined
        : caller.call(handler, event, importState).then(
            () => skip?.add(handler),
            (error: unknown) => void errors.push(error),
          ),
    ),
  );
  if (errors.length === 0) return;
  if (errors.length === 1 && errors[0] instanceof WebhookError) throw errors[0];
  const cause = errors.length === 1 ? errors[0] : new AggregateError(errors, `${errors.length} handlers failed`);
  throw new WebhookError('handler.failed', `A ${event.type} handler failed`, { cause });
}
