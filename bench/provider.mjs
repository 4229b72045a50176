// The Firecrawl provider used by every scrapehook benchmark variant, so later
// variants (SQLite store, BullMQ queue, ...) measure the same verification,
// parsing and validation work.
//
// Imports the *built* library (../dist), so run `npx tsc -p tsconfig.build.json`
// first (bench/run.mjs does it when dist/ is missing or older than src/).

import { z } from 'zod';
import { createReceiver, defineProvider, hmacSignature } from '../dist/index.js';
import { SECRET, SIGNATURE_HEADER } from './payloads.mjs';

export const crawlPageSchema = z.looseObject({
  success: z.boolean(),
  type: z.literal('crawl.page'),
  id: z.string(),
  webhookId: z.string(),
  data: z.array(
    z.looseObject({
      markdown: z.string().optional(),
      metadata: z
        .looseObject({ url: z.string().optional(), statusCode: z.number().optional() })
        .optional(),
    }),
  ),
  metadata: z.record(z.string(), z.string()).optional(),
});

export const provider = defineProvider({
  name: 'firecrawl',
  verify: hmacSignature({ secret: SECRET, header: SIGNATURE_HEADER, prefix: 'sha256=', encoding: 'hex' }),
  bodyTypes: ['json'],
  eventType: 'type', // property holding the event type
  events: { 'crawl.page': crawlPageSchema },
  dedupeId: ({ payload }) => payload.webhookId,
});

/**
 * A receiver with a no-op handler that counts events.
 * `options` is merged into createReceiver's options (e.g. a `store` or `queue`).
 * Returns { hooks, stats() }.
 */
export function createBenchReceiver(options = {}) {
  const hooks = createReceiver({ provider, concurrency: 4, maxQueued: 100_000, ...options });
  let events = 0;
  hooks.on('crawl.page', async () => {
    events++;
  });
  // Receiver counters (received, accepted, duplicates, rejected, queued, ...) when
  // the receiver has stats(), plus the events our handler saw.
  const stats = () => ({ events, ...(typeof hooks.stats === 'function' ? { receiver: hooks.stats() } : {}) });
  return { hooks, stats };
}
