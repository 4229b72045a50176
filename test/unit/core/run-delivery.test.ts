import { describe, expect, it, vi } from 'vitest';
import { HandlerCaller } from '../../../src/core/handler-call.ts';
import type { AnyHandler } from '../../../src/core/handlers.ts';
import { runDelivery } from '../../../src/core/run-delivery.ts';
import { WebhookError } from '../../../src/errors.ts';
import { ImportTracker } from '../../../src/import/progress.ts';
import type { ImportState } from '../../../src/import/types.ts';
import { silentLogger } from '../../../src/log.ts';
import type { WebhookEvent } from '../../../src/types.ts';

const event: WebhookEvent = { id: 'wh-1', type: 'crawl.page', provider: 'test', payload: { n: 1 }, receivedAt: new Date(0), attempt: 2 };
const caller = new HandlerCaller(60_000, silentLogger, new ImportTracker());
const state = () => ({}) as ImportState;
const run = (handlers: AnyHandler[], skip?: Set<unknown>) => runDelivery(handlers, caller, event, state, skip);

describe('runDelivery()', () => {
  it('runs every handler with the event, and adds those that succeeded to the skip set', async () => {
    const a = vi.fn();
    const b = vi.fn(async () => {});
    const skip = new Set<unknown>();
    await run([a, b], skip);
    expect(a).toHaveBeenCalledWith(event, expect.anything());
    expect(b).toHaveBeenCalledOnce();
    expect(skip).toEqual(new Set([a, b]));
  });

  it('does not run a handler in the skip set', async () => {
    const a = vi.fn();
    const b = vi.fn();
    await run([a], new Set([a]));
    await run([a, b], new Set([a]));
    expect(a).not.toHaveBeenCalled();
    expect(b).toHaveBeenCalledOnce();
  });

  it('wraps one handler’s error as handler.failed naming the type, keeping it as the cause', async () => {
    const cause = new Error('database down');
    const error = await run([() => Promise.reject(cause)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookError);
    expect(error).toMatchObject({ type: 'handler.failed', message: 'A crawl.page handler failed', cause });
  });

  it('with several handlers, adds only those that succeeded to the skip set, and fails with the one error', async () => {
    const ok = vi.fn();
    const cause = new Error('flaky');
    const failing: AnyHandler = () => {
      throw cause;
    };
    const skip = new Set<unknown>();
    await expect(run([ok, failing], skip)).rejects.toMatchObject({ type: 'handler.failed', cause });
    expect(skip).toEqual(new Set([ok]));
  });

  it('aggregates the errors of several failing handlers', async () => {
    const error = (await run([() => Promise.reject(new Error('a')), () => Promise.reject(new Error('b'))]).catch((e: unknown) => e)) as WebhookError;
    expect(error).toMatchObject({ type: 'handler.failed' });
    expect(error.cause).toBeInstanceOf(AggregateError);
    expect((error.cause as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a', 'b']);
  });

  it('passes a timeout of the only failing handler through as handler.timeout', async () => {
    const timeout = new WebhookError('handler.timeout', 'too slow');
    await expect(run([vi.fn(), () => Promise.reject(timeout)])).rejects.toBe(timeout);
    await expect(run([() => Promise.reject(timeout)])).rejects.toBe(timeout);
  });

  it('resolves with no handler at all', async () => {
    await expect(run([])).resolves.toBeUndefined();
  });
});
