// Type-checked by `tsc -p tsconfig.json` (part of `npm test`); never executed.
import { expectTypeOf } from 'vitest';
import { createReceiver, importRows, sqliteStore, webScraper, type Batch, type ImportState, type Source, type WebhookEvent } from '../../src/index.ts';

declare const source: Source<{ jobId: number }, { title: string }>;

const hooks = createReceiver({ provider: webScraper({ token: 'token' }), store: sqliteStore({ path: './hooks.db' }) });

// The mount line of the README type-checks, with rows typed by the source.
hooks.on(
  'scrapingjob.finished',
  importRows(source, {
    batchSize: 1000,
    async write(rows, batch, ctx) {
      expectTypeOf(rows).toEqualTypeOf<{ title: string }[]>();
      expectTypeOf(batch).toEqualTypeOf<Batch<{ title: string }>>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(ctx.event).toEqualTypeOf<WebhookEvent>();
      expectTypeOf(ctx.importState).toEqualTypeOf<ImportState>();
      void ctx.logger.debug('written');
    },
  }),
);

hooks.on('scrapingjob.finished', (_event, ctx) => {
  expectTypeOf(ctx.importState.get).returns.resolves.toEqualTypeOf<string | undefined>();
});

// @ts-expect-error write is required
importRows(source, { batchSize: 10 });
