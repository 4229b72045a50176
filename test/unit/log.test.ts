import { describe, expect, it } from 'vitest';
import { redactUrl, WebhookError, type Logger } from '../../src/index.ts';
import { safeError, safeLogger, scrubMessage } from '../../src/log.ts';
import { everything, redisLikeError } from '../helpers/leaky-error.ts';

describe('redactUrl()', () => {
  const params = { token: 's3cr3t' };

  it('hides a route parameter wherever it stands in the path, percent-encoded or not', () => {
    expect(redactUrl('/hooks/s3cr3t', params)).toBe('/hooks/:token');
    expect(redactUrl('/hooks/key-s3cr3t', params)).toBe('/hooks/key-:token');
    expect(redactUrl('/hooks/key-s3cr3t-end/x', params)).toBe('/hooks/key-:token-end/x');
    expect(redactUrl('/hooks/key-s3cr%33t', params)).toBe('/hooks/key-:token');
    expect(redactUrl('/hooks/%73%33%63%72%33%74', params)).toBe('/hooks/:token');
    expect(redactUrl('/hooks/key-s3cr%33t%ZZ', params)).not.toContain('cr3t');
    expect(redactUrl('/hooks/a%2Fs3cr3t', params)).toBe('/hooks/a%2F:token');
    expect(redactUrl('/s3cr3t/s3cr3t', params)).toBe('/:token/:token');
    // A wildcard parameter (Express 5 gives its segments as an array) spans segments.
    expect(redactUrl('/files/a/s3cr3t/b', { rest: ['a', 's3cr3t', 'b'] } as never)).toBe('/files/:rest');
    expect(redactUrl('/files/a%2Fb', { rest: 'a/b' })).toBe('/files/:rest');
    // The longest value first: one containing another is hidden whole.
    expect(redactUrl('/h/abc-abcdef', { short: 'abc', long: 'abcdef' })).toBe('/h/:short-:long');
  });

  it('redacts every query component, with or without "="', () => {
    expect(redactUrl('/hooks?s3cr3t')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks?a=1&s3cr3t')).toBe('/hooks?a=[redacted]&[redacted]');
    expect(redactUrl('/hooks?token=s3cr3t')).toBe('/hooks?token=[redacted]');
    expect(redactUrl('/hooks?token=s3cr3t&', params)).toBe('/hooks?token=[redacted]&');
    expect(redactUrl('/hooks?s3cr3t;a=1')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks?a-very-long-name-that-may-be-a-token-xyz=1')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks/apify/s3cr%65t?token=abc&x', { token: 's3cret' })).toBe('/hooks/apify/:token?token=[redacted]&[redacted]');
    expect(redactUrl('/hooks')).toBe('/hooks');
    expect(redactUrl('/hooks', { token: '' })).toBe('/hooks');
  });
});

describe('safeError()', () => {
  it('keeps name, message, code and stack, and drops commands, options and bodies', () => {
    const original = redisLikeError();
    const copy = safeError(original);
    const text = everything(copy);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('BODY-BYTES');
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).toBe('Connection to redis://app:***@cache:6379 failed (password=***)');
    expect(copy.stack).toMatch(/^Error: Connection to redis:\/\/app:\*\*\*@cache/);
    expect(copy.stack).toContain('log.test.ts');
    expect(copy).toMatchObject({ code: 'ECONNREFUSED', errno: -111 });
    expect(copy).not.toHaveProperty('command');
    expect(copy).not.toHaveProperty('options');
    expect(copy).not.toHaveProperty('previousErrors');
    const cause = copy.cause as Error;
    expect(cause.name).toBe('ReplyError');
    expect(cause.message).toMatch(/^WRONGPASS/);
    expect(cause).not.toHaveProperty('command');
    // The original is left as it was.
    expect(original).toHaveProperty('command');
  });

  it('keeps a WebhookError a WebhookError, and cleans AggregateError members and cycles', () => {
    const inner = redisLikeError();
    const aggregate = new AggregateError([inner, 'token=abc'], 'all failed');
    const error = new WebhookError('handler.failed', 'A handler failed', { cause: aggregate });
    (aggregate as { cause?: unknown }).cause = error;
    const copy = safeError(error);
    expect(copy).toBeInstanceOf(WebhookError);
    expect(copy).toMatchObject({ type: 'handler.failed', status: 500, name: 'WebhookError', message: 'A handler failed' });
    expect(copy.toJSON()).toEqual(error.toJSON());
    const members = (copy.cause as AggregateError).errors;
    expect(copy.cause).toBeInstanceOf(AggregateError);
    expect(members[1]).toBe('token=***');
    expect(everything(copy)).not.toContain('hunter2');
    expect((copy.cause as { cause?: unknown }).cause).toBe(copy);
  });

  it('scrubs URL credentials and password pairs from messages, once', () => {
    expect(scrubMessage('redis://tok3n@cache:6379 and rediss://u:p4ss@h')).toBe('redis://***@cache:6379 and rediss://u:***@h');
    expect(scrubMessage('redis://u:***@h')).toBe('redis://u:***@h');
    expect(scrubMessage('AUTH failed: password=p4ss, token: "a b"')).toBe('AUTH failed: password=***, token: ***');
    expect(scrubMessage('x'.repeat(5000))).toHaveLength(2000 + '… [cut]'.length);
  });

  it('returns what is not an error as it is', () => {
    expect(safeError('text')).toBe('text');
    expect(safeError(undefined)).toBe(undefined);
  });
});

describe('safeLogger()', () => {
  it('hands the logger clean copies of every error field, and calls it as a method', () => {
    const calls: unknown[][] = [];
    const target = {
      prefix: 'p',
      debug(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      info(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      warn(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      error(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
    } as Logger & { prefix: string };
    const logger = safeLogger(target);
    logger.error({ err: redisLikeError(), other: redisLikeError(), id: 'x' }, 'failed');
    logger.warn(redisLikeError());
    logger.info('just text');
    expect(calls).toHaveLength(3);
    expect(calls[0]![0]).toBe('p');
    expect(calls[0]![2]).toBe('failed');
    expect(calls[2]).toEqual(['p', 'just text']);
    expect(everything(calls)).not.toContain('hunter2');
    expect(everything(calls)).not.toContain('BODY-BYTES');
    expect(safeLogger(logger)).toBe(logger);
  });
});
