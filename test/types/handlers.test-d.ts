// Type-checked by `tsc -p tsconfig.json` (part of `npm test`); never executed.
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import { createReceiver, defineProvider, hmacSignature, type WebhookEvent } from '../../src/index.ts';
import { testProvider } from '../helpers/test-provider.ts';

const hooks = createReceiver({ provider: testProvider() });

hooks.on('crawl.page', (event, ctx) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.page'>();
  expectTypeOf<(typeof event.payload.data)[number]['markdown']>().toEqualTypeOf<string | undefined>();
  expectTypeOf(event.id).toBeString();
  expectTypeOf(event.attempt).toBeNumber();
  expectTypeOf(event.receivedAt).toEqualTypeOf<Date>();
  expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
  // @ts-expect-error the crawl.page schema has no such field
  void event.payload.extractId;
});

hooks.on('crawl.*', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.started' | 'crawl.page' | 'crawl.completed'>();
  if (event.type === 'crawl.page') expectTypeOf(event.payload.data).toBeArray();
});

hooks.on('page', (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.page'>();
});

hooks.on(['crawl.started', 'extract.completed'], (event) => {
  expectTypeOf(event.type).toEqualTypeOf<'crawl.started' | 'extract.completed'>();
  if (event.type === 'extract.completed') expectTypeOf(event.payload.data[0]!.extractId).toBeString();
});

hooks.onAny((event) => {
  expectTypeOf(event.type).toBeString();
  expectTypeOf(event).toExtend<WebhookEvent>();
});

hooks.onError((error, event) => {
  expectTypeOf(error.type).toBeString();
  expectTypeOf(event.provider).toBeString();
});

// @ts-expect-error not an event type of this provider
hooks.on('crawl.pages', () => {});
// @ts-expect-error a wildcard needs a known namespace
hooks.on('unknown.*', () => {});

// The payload of dedupeId is typed from the schemas.
defineProvider({
  name: 'typed',
  verify: hmacSignature({ secret: 's', header: 'x-sig' }),
  eventType: 'kind',
  events: { 'job.done': z.object({ kind: z.literal('job.done'), jobId: z.string() }) },
  envelope: z.object({ kind: z.string(), jobId: z.string() }),
  dedupeId: ({ payload }) => {
    expectTypeOf(payload.jobId).toBeString();
    return payload.jobId;
  },
});

// No `any` leaks into handlers of a provider without an explicit envelope.
const plain = createReceiver({
  provider: defineProvider({
    name: 'plain',
    verify: hmacSignature({ secret: 's', header: 'x-sig' }),
    eventType: 'kind',
    events: { done: z.object({ kind: z.literal('done'), rows: z.number() }) },
  }),
});
plain.on('done', (event) => expectTypeOf(event.payload.rows).toBeNumber());
plain.onAny((event) => expectTypeOf(event.payload).not.toBeAny());
