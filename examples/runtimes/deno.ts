// Deno: the README's "Deno" example, type-checked by `npm test`.
// Run with `deno run --allow-net --allow-env examples/runtimes/deno.ts`.
// In your code: import from 'npm:scrapehook' (and drop the `declare`: Deno declares Deno).
import { apify, createReceiver } from '../../src/index.ts';

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(options: { port: number; onListen?(address: { port: number }): void }, handler: (request: Request) => Promise<Response>): unknown;
};

const hooks = createReceiver({ provider: apify({ token: Deno.env.get('APIFY_WEBHOOK_TOKEN') ?? '' }) });
hooks.on('ACTOR.RUN.SUCCEEDED', async (event) => {
  console.log('run', event.payload.resource.id);
});

// Deno.serve has no router: `path` names the route parameter the token is read from.
const receive = hooks.fetchHandler({ path: '/webhooks/apify/:token' });
Deno.serve({ port: Number(Deno.env.get('PORT') ?? 3000), onListen: ({ port }) => console.log(`listening on ${port}`) }, (request) => receive(request));
