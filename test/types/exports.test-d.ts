// Type-checked by `tsc -p tsconfig.json` (part of `npm test`); never executed.
// The helper types the README's "ESM, CommonJS and TypeScript" section names are exported.
import { expectTypeOf } from 'vitest';
import type {
  AnyEvent,
  ApifyPayload,
  ApifyProvider,
  ErrorHandler,
  EventFor,
  FirecrawlPayload,
  FirecrawlProvider,
  Handler,
  HandlerContext,
  KnownEvent,
  StandardWebhookPayload,
  ThordataPayload,
  ThordataProvider,
  WebScraperPayload,
  WebScraperProvider,
} from '../../src/index.ts';

expectTypeOf<EventFor<FirecrawlProvider, 'crawl.page'>>().toEqualTypeOf<KnownEvent<FirecrawlProvider, 'crawl.page'>>();
expectTypeOf<EventFor<FirecrawlProvider, 'crawl.page'>['payload']>().toEqualTypeOf<FirecrawlPayload<'crawl.page'>>();
expectTypeOf<Handler<AnyEvent<ApifyProvider>>>().parameter(1).toEqualTypeOf<HandlerContext>();
expectTypeOf<EventFor<ApifyProvider, 'ACTOR.RUN.SUCCEEDED'>['payload']>().toEqualTypeOf<ApifyPayload<'ACTOR.RUN.SUCCEEDED'>>();
expectTypeOf<EventFor<ThordataProvider, 'ACTOR.RUN.SUCCEEDED'>['payload']>().toEqualTypeOf<ThordataPayload<'ACTOR.RUN.SUCCEEDED'>>();
expectTypeOf<EventFor<WebScraperProvider, 'scrapingjob.finished'>['payload']>().toEqualTypeOf<WebScraperPayload<'scrapingjob.finished'>>();
expectTypeOf<StandardWebhookPayload<'a.b', { n: number }>['data']>().toEqualTypeOf<{ n: number }>();
expectTypeOf<ErrorHandler<FirecrawlProvider>>().parameter(1).toEqualTypeOf<AnyEvent<FirecrawlProvider>>();
