import { describe, expect, it } from 'vitest';
import { attemptError, decide, isFinal, serialize } from '../../../src/core/policy.ts';
import { WebhookError } from '../../../src/errors.ts';
import { ImportError } from '../../../src/import/errors.ts';

const policy = { attempts: 3, retryDelay: (attempt: number) => attempt * 1000 };
const failed = (cause: unknown) => new WebhookError('handler.failed', 'A crawl.page handler failed', { cause });

describe('decide()', () => {
  it('retries a failed attempt before the last one, after the backoff of that attempt', () => {
    const error = failed(new Error('database down'));
    expect(decide(error, 1, 3, policy, false)).toEqual({ kind: 'retry', attempts: 1, delayMs: 1000, error });
    expect(decide(error, 2, 3, policy, false)).toEqual({ kind: 'retry', attempts: 2, delayMs: 2000, error });
  });

  it('makes a dead letter of the last attempt allowed', () => {
    const error = failed(new Error('database down'));
    expect(decide(error, 3, 3, policy, false)).toEqual({ kind: 'dead', attempts: 3, error });
    // A replay's one more attempt is its last, whatever the receiver's count.
    expect(decide(error, 7, 7, policy, false)).toMatchObject({ kind: 'dead', attempts: 7 });
  });

  it('makes a dead letter at once of an error that says retrying cannot help', () => {
    const error = failed(new ImportError('import.unauthorized', 'The API token was refused', { provider: 'apify', jobId: 'run-1' }));
    expect(decide(error, 1, 3, policy, false)).toEqual({ kind: 'dead', attempts: 1, error });
  });

  it('retries at once while the receiver drains, rather than wait past the close', () => {
    expect(decide(failed(new Error('x')), 1, 3, policy, true)).toMatchObject({ kind: 'retry', delayMs: 0 });
  });
});

describe('isFinal()', () => {
  it('is true for a cause with retryable: false, alone or among several handlers’ errors', () => {
    const final = Object.assign(new Error('gone'), { retryable: false });
    expect(isFinal(failed(final))).toBe(true);
    expect(isFinal(failed(new AggregateError([new Error('flaky'), final])))).toBe(true);
  });

  it('is false for ordinary errors, retryable ones, timeouts and non-objects', () => {
    expect(isFinal(failed(new Error('flaky')))).toBe(false);
    expect(isFinal(failed(Object.assign(new Error('429'), { retryable: true })))).toBe(false);
    expect(isFinal(failed(new AggregateError([new Error('a'), new Error('b')])))).toBe(false);
    expect(isFinal(new WebhookError('handler.timeout', 'too slow'))).toBe(false);
    expect(isFinal(failed('a string'))).toBe(false);
  });
});

describe('attemptError()', () => {
  it('keeps a WebhookError and wraps anything else as handler.failed', () => {
    const timeout = new WebhookError('handler.timeout', 'too slow');
    expect(attemptError(timeout)).toBe(timeout);
    const wrapped = attemptError(new TypeError('boom'));
    expect(wrapped).toMatchObject({ type: 'handler.failed' });
    expect((wrapped.cause as Error).message).toBe('boom');
  });
});

describe('serialize()', () => {
  it('keeps the type, the message with its cause’s, and the cause’s stack', () => {
    const cause = new Error('database down');
    const out = serialize(failed(cause));
    expect(out).toEqual({ type: 'handler.failed', message: 'A crawl.page handler failed: database down', stack: cause.stack });
  });

  it('keeps no password from a cause’s message', () => {
    const out = serialize(failed(new Error('connect ECONNREFUSED redis://user:hunter2@cache:6379')));
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });
});
