import { z } from 'zod';
import { defineProvider, hmacSignature } from '../../src/index.ts';
import { SECRET, SIGNATURE_HEADER } from './test-provider.ts';

// For the tests of durable backends that keep a body as received and validate it again when they
// read it back: the schema transforms the payload, so a handler can tell validated from raw.

/** A provider whose schema upper-cases `markdown` (and drops unknown fields). */
export function shoutingProvider(markdown: z.ZodType<string> = z.string()) {
  return defineProvider({
    name: 'shout',
    verify: hmacSignature({ secret: SECRET, header: SIGNATURE_HEADER, prefix: 'sha256=' }),
    eventType: 'type',
    events: {
      'page.scraped': z.object({
        type: z.literal('page.scraped'),
        webhookId: z.string(),
        markdown: markdown.transform((s) => s.toUpperCase()),
      }),
    },
    envelope: z.looseObject({ webhookId: z.string() }),
    dedupeId: ({ payload }) => payload.webhookId,
  });
}

/** A body with non-ASCII text and a field the schema drops. */
export const BODY = JSON.stringify({ type: 'page.scraped', webhookId: 'wh-raw-1', markdown: '“scraped” — café 中文', extra: 'dropped by the schema' });

/** What the schema makes of BODY. */
export const SHOUTED = { type: 'page.scraped', webhookId: 'wh-raw-1', markdown: '“SCRAPED” — CAFÉ 中文' };
