import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { defineProvider, hmacSignature } from '../../src/index.ts';

export const SECRET = 'test-secret';
export const SIGNATURE_HEADER = 'x-test-signature';

const page = z.looseObject({
  markdown: z.string().optional(),
  metadata: z.looseObject({ url: z.string(), statusCode: z.number() }).optional(),
});

/** A Firecrawl-like provider used to exercise the core: HMAC-SHA256 hex, `type` in the body. */
export function testProvider(options: { secrets?: string[] } = {}) {
  return defineProvider({
    name: 'test',
    verify: hmacSignature({ secrets: options.secrets ?? [SECRET], header: SIGNATURE_HEADER, prefix: 'sha256=' }),
    eventType: 'type',
    events: {
      'crawl.started': z.object({ type: z.literal('crawl.started'), id: z.string(), webhookId: z.string() }),
      'crawl.page': z.object({
        type: z.literal('crawl.page'),
        id: z.string(),
        webhookId: z.string(),
        data: z.array(page),
      }),
      'crawl.completed': z.object({ type: z.literal('crawl.completed'), id: z.string(), webhookId: z.string() }),
      'extract.completed': z.object({
        type: z.literal('extract.completed'),
        id: z.string(),
        webhookId: z.string(),
        data: z.array(z.object({ extractId: z.string() })),
      }),
    },
    envelope: z.looseObject({ type: z.string(), webhookId: z.string() }),
    aliases: { page: ['crawl.page'] },
    dedupeId: ({ payload }) => payload.webhookId,
  });
}

export function sign(body: string | Buffer, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

let counter = 0;

/** A valid `crawl.page` body with a fresh webhookId (or the given one). */
export function pageEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return {
    type: 'crawl.page',
    id: 'crawl-1',
    webhookId: `wh-${counter}`,
    data: [{ markdown: '# Title\n\nSome “scraped” text — café', metadata: { url: 'https://example.com', statusCode: 200 } }],
    ...overrides,
  };
}

/** Headers and bytes for a signed JSON delivery. */
export function signed(body: unknown, secret = SECRET): { body: string; headers: Record<string, string> } {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { body: text, headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(text, secret) } };
}

/** A promise and its resolver, to block a handler until the test lets it go. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
