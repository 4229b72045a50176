import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HandlerCaller } from '../../../src/core/handler-call.ts';
import { WebhookError } from '../../../src/errors.ts';
import { ImportTracker } from '../../../src/import/progress.ts';
import type { ImportState } from '../../../src/import/types.ts';
import { silentLogger } from '../../../src/log.ts';
import type { HandlerContext, WebhookEvent } from '../../../src/types.ts';

const event: WebhookEvent = { id: 'wh-1', type: 'crawl.page', provider: 'test', payload: {}, receivedAt: new Date(0), attempt: 1 };
const noState = (): ImportState => {
  throw new Error('not read');
};
/** A handler that never settles on its own, and hands out its context. */
function hanging() {
  const seen: HandlerContext[] = [];
  const handler = (_event: unknown, ctx: HandlerContext) => {
    seen.push(ctx);
    return new Promise(() => {});
  };
  return { handler, seen };
}

describe('HandlerCaller', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a synchronous handler’s value or throw without arming a timer', async () => {
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    await expect(caller.call(() => 'done', event, noState)).resolves.toBe('done');
    await expect(
      caller.call(
        () => {
          throw new Error('sync');
        },
        event,
        noState,
      ),
    ).rejects.toThrow('sync');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails a handler still running at the timeout with handler.timeout, and aborts its signal with that error', async () => {
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    const { handler, seen } = hanging();
    const call = caller.call(handler, event, noState);
    const signal = seen[0]!.signal;
    const outcome = expect(call).rejects.toMatchObject({ type: 'handler.timeout', message: 'A crawl.page handler took longer than 1000 ms' });
    await vi.advanceTimersByTimeAsync(999);
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await outcome;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(WebhookError);
  });

  it('watches every call with one timer, each failing at its own deadline', async () => {
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    const first = caller.call(hanging().handler, event, noState);
    const firstFailed = vi.fn();
    first.catch(firstFailed);
    await vi.advanceTimersByTimeAsync(400);
    const second = caller.call(hanging().handler, event, noState);
    const secondFailed = vi.fn();
    second.catch(secondFailed);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(firstFailed).toHaveBeenCalledOnce();
    expect(secondFailed).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(399);
    expect(secondFailed).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(secondFailed).toHaveBeenCalledOnce();
  });

  it('keeps watching the calls left when one settles out of order, and ignores one settling after it expired', async () => {
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    let finishMiddle!: (value: string) => void;
    let finishLate!: (value: string) => void;
    const calls = [
      caller.call(hanging().handler, event, noState),
      caller.call(() => new Promise<string>((resolve) => (finishMiddle = resolve)), event, noState),
      caller.call(() => new Promise<string>((resolve) => (finishLate = resolve)), event, noState),
    ];
    await vi.advanceTimersByTimeAsync(100);
    const fourth = caller.call(hanging().handler, event, noState);
    const outcomes = [...calls, fourth].map((call) => call.then((value) => `resolved ${String(value)}`, (error: WebhookError) => error.type));
    finishMiddle('middle'); // settles while it is neither the oldest nor the newest call
    await vi.advanceTimersByTimeAsync(900); // the first and third calls expire
    finishLate('too late'); // the third call settles after it expired: its answer is already given
    await vi.advanceTimersByTimeAsync(100); // the fourth call expires
    expect(await Promise.all(outcomes)).toEqual(['handler.timeout', 'resolved middle', 'handler.timeout', 'handler.timeout']);
    expect(vi.getTimerCount()).toBe(0);
    // The list is empty again: a new call is watched from scratch.
    const fifth = caller.call(hanging().handler, event, noState).catch((error: WebhookError) => error.type);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(fifth).resolves.toBe('handler.timeout');
  });

  it('answers a handler that settles in time as it settled, its signal never aborted', async () => {
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    let signal: AbortSignal | undefined;
    const call = caller.call(
      async (_e, ctx) => {
        signal = ctx.signal;
        await new Promise((resolve) => setTimeout(resolve, 500));
        return 'ok';
      },
      event,
      noState,
    );
    await vi.advanceTimersByTimeAsync(500);
    await expect(call).resolves.toBe('ok');
    await vi.advanceTimersByTimeAsync(5000);
    expect(signal!.aborted).toBe(false);
  });

  it('abortAll() aborts the signals of calls in progress and of calls made after it', async () => {
    const caller = new HandlerCaller(60_000, silentLogger, new ImportTracker());
    const { handler, seen } = hanging();
    void caller.call(handler, event, noState);
    const running = seen[0]!.signal;
    const reason = new WebhookError('handler.timeout', 'The receiver closed before the handler finished');
    caller.abortAll(reason);
    expect(running.aborted).toBe(true);
    expect(running.reason).toBe(reason);
    void caller.call(handler, event, noState);
    expect(seen[1]!.signal.aborted).toBe(true);
    expect(seen[1]!.signal.reason).toBe(reason);
  });

  it('reads the import state only when the handler reads ctx.importState, and gives the logger', async () => {
    const state = {} as ImportState;
    const read = vi.fn(() => state);
    const caller = new HandlerCaller(1000, silentLogger, new ImportTracker());
    await caller.call(() => undefined, event, read);
    expect(read).not.toHaveBeenCalled();
    await caller.call((_e, ctx) => expect(ctx.importState).toBe(state), event, read);
    expect(read).toHaveBeenCalledOnce();
    await caller.call((_e, ctx) => expect(ctx.logger).toBe(silentLogger), event, read);
  });
});
