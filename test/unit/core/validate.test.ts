import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { revive, validate, validPayload } from '../../../src/core/validate.ts';
import { defineProvider, secretToken } from '../../../src/index.ts';
import { pageEvent, testProvider } from '../../helpers/test-provider.ts';

const delivery = { id: 'wh-1', type: 'crawl.page', provider: 'test', payload: undefined, receivedAt: new Date(0) };
const json = (value: unknown) => ({ bytes: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), type: 'json' as const });

describe('validate()', () => {
  it('answers synchronously for a schema without async refinements: no promise on the acknowledgement path', () => {
    const result = validate(testProvider(), 'crawl.page', pageEvent());
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toMatchObject({ success: true });
  });

  it('answers a promise for a schema with an async refinement, and the provider’s envelope for an unknown type', async () => {
    const provider = defineProvider({
      name: 'async',
      verify: secretToken({ token: 't', header: 'x-token' }),
      eventType: 'type',
      events: { ping: z.object({ type: z.literal('ping') }).refine(async () => true) },
      envelope: z.looseObject({ type: z.string() }),
    });
    const result = validate(provider, 'ping', { type: 'ping' });
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toMatchObject({ success: true });
    expect(validate(provider, 'other', { type: 'other', extra: 1 })).toMatchObject({ success: true, data: { type: 'other', extra: 1 } });
  });
});

describe('validPayload() and revive()', () => {
  it('reject with payload.invalid naming the paths, never the values', async () => {
    const error = await validPayload(testProvider(), 'crawl.page', pageEvent({ data: 'secret value' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: 'payload.invalid', issues: [{ path: ['data'] }] });
    expect(JSON.stringify(error)).not.toContain('secret value');
  });

  it('revive() decodes a kept body and validates it again; a body that no longer decodes is entity.parse.failed', async () => {
    const event = pageEvent();
    expect(await revive(testProvider(), delivery, json(event))).toEqual({ ...delivery, payload: event });
    await expect(revive(testProvider(), delivery, json('{not json'))).rejects.toMatchObject({ type: 'entity.parse.failed' });
    await expect(revive(testProvider(), delivery, json(pageEvent({ data: 1 })))).rejects.toMatchObject({ type: 'payload.invalid' });
  });
});
