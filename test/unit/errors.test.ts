import { describe, expect, it } from 'vitest';
import { STATUS, WebhookError, isWebhookError, type WebhookErrorType } from '../../src/errors.ts';

describe('WebhookError', () => {
  // The status each request error answers with, as the README's pipeline table documents it.
  const statuses: [WebhookErrorType, number][] = [
    ['route.not.found', 404],
    ['method.not.allowed', 405],
    ['body.timeout', 408],
    ['entity.too.large', 413],
    ['content-type.unsupported', 415],
    ['charset.unsupported', 415],
    ['encoding.unsupported', 415],
    ['multipart.file.unsupported', 415],
    ['unauthorized', 401],
    ['encoding.invalid', 400],
    ['request.aborted', 400],
    ['request.size.invalid', 400],
    ['entity.parse.failed', 400],
    ['event.type.missing', 400],
    ['payload.invalid', 400],
    ['queue.full', 503],
    ['queue.unavailable', 503],
    ['receiver.closing', 503],
    ['body.already.parsed', 500],
    ['internal', 500],
    ['handler.failed', 500],
    ['handler.timeout', 500],
  ];

  it('covers every error type in STATUS', () => {
    expect(Object.keys(STATUS).sort()).toEqual(statuses.map(([type]) => type).sort());
  });

  it.each(statuses)('%s answers %i', (type, status) => {
    const error = new WebhookError(type, 'm');
    expect(error.status).toBe(status);
    expect(error.type).toBe(type);
  });

  it('is an Error named WebhookError, with its cause kept for logs', () => {
    const cause = new Error('socket hang up');
    const error = new WebhookError('internal', 'Internal error', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('WebhookError');
    expect(error.message).toBe('Internal error');
    expect(error.cause).toBe(cause);
    expect(error.stack).toMatch(/^WebhookError: Internal error/);
    expect(new WebhookError('internal', 'x')).not.toHaveProperty('cause');
    expect(isWebhookError(error)).toBe(true);
    expect(isWebhookError(cause)).toBe(false);
    expect(isWebhookError({ type: 'internal', status: 500 })).toBe(false);
  });

  it('serializes to { error: { code, message } }: no cause, stack or status, so nothing from inside reaches the sender', () => {
    const cause = Object.assign(new Error('connect to postgres://app:hunter2@db failed'), { password: 'hunter2' });
    const error = new WebhookError('internal', 'Internal error', { cause });
    expect(error.toJSON()).toEqual({ error: { code: 'internal', message: 'Internal error' } });
    const text = JSON.stringify(error);
    expect(text).toBe('{"error":{"code":"internal","message":"Internal error"}}');
    expect(text).not.toContain('hunter2');
  });

  it('adds the issues of an invalid payload, and only then', () => {
    const issues = [{ path: ['data', 0, 'markdown'], code: 'invalid_type', message: 'Expected string' }];
    const error = new WebhookError('payload.invalid', 'The crawl.page payload is invalid', { issues });
    expect(error.issues).toBe(issues);
    expect(error.toJSON()).toEqual({ error: { code: 'payload.invalid', message: 'The crawl.page payload is invalid', issues } });
    expect(new WebhookError('payload.invalid', 'x').toJSON().error).not.toHaveProperty('issues');
  });
});
