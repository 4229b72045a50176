// app/api/webhooks/firecrawl/route.ts: the README's "Next.js App Router" example, type-checked and
// run by `npm test`. In your app: import { hooks } from '@/lib/hooks'.
import { hooks } from '../../../../lib/hooks.ts';

// scrapehook reads the body with node:stream and node:zlib: the Node.js runtime, not the Edge one.
export const runtime = 'nodejs';

// Next.js answers other methods 405 itself.
export const POST = hooks.fetchHandler();
