// A sender scrapehook does not ship: "Acme Scraper" (made up for this example) posts JSON, signs
// the raw body with HMAC-SHA256 in `X-Acme-Signature: sha256=<hex>`, names the event in `event`,
// and resends a failed delivery with the same `deliveryId`. In your code: import from 'scrapehook'.
import { z } from 'zod';
import { createReceiver, defineProvider, hmacSignature } from '../src/index.ts';

const job = { jobId: z.string(), deliveryId: z.string() };

export function acme(options: { secret: string }) {
  return defineProvider({
    name: 'acme',
    // Authenticates on the raw bytes, before anything is parsed.
    verify: hmacSignature({ secret: options.secret, header: 'x-acme-signature', prefix: 'sha256=' }),
    // The body property that names the event (or a function of the body and the request).
    eventType: 'event',
    // One zod schema per event type: handlers get these output types.
    events: {
      'job.finished': z.object({ ...job, event: z.literal('job.finished'), rows: z.number(), resultUrl: z.url() }),
      'job.failed': z.object({ ...job, event: z.literal('job.failed'), reason: z.string() }),
    },
    // Other event types are accepted with this schema and reach onAny.
    envelope: z.looseObject({ ...job, event: z.string() }),
    // Stable across the sender's retries; without one, a hash of the raw body is used.
    dedupeId: ({ payload }) => payload.deliveryId,
    // Extra subscription names: hooks.on('ended', ...) gets both.
    aliases: { ended: ['job.finished', 'job.failed'] },
  });
}

export function createAcmeReceiver(secret: string, save: (jobId: string, rows: number) => Promise<void>) {
  const hooks = createReceiver({ provider: acme({ secret }) });
  hooks.on('job.finished', ({ payload }) => save(payload.jobId, payload.rows));
  hooks.on('job.failed', ({ payload }, { logger }) => logger.warn({ jobId: payload.jobId, reason: payload.reason }, 'acme job failed'));
  return hooks; // app.all('/webhooks/acme', hooks.middleware())
}
