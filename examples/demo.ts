// `npm start`: every provider in one Express app, on PORT (default 3000), with the in-memory queue.
// Handled events and imported batches are JSON lines on stdout; rejections (status and code) and
// everything else go to stderr. Web Scraper Cloud jobs are imported from the API that
// WEBSCRAPER_API_URL / WEBSCRAPER_API_TOKEN choose, or from a built-in mock (see demo-app.ts).
import type { AddressInfo } from 'node:net';
import { createDemoApp } from './demo-app.ts';

const demo = await createDemoApp(process.env).catch((error: unknown) => {
  console.error(error instanceof TypeError ? error.message : error);
  process.exit(1);
});
const generated = Object.entries(demo.generated);
if (generated.length > 0) {
  console.error(`Not set, so generated for this run (paste these lines into the shell you send from):`);
  for (const [name, value] of generated) console.error(`  export ${name}='${value}'`);
}
console.error(demo.dataApi.description);

// PORT=0 picks a free port; the line below says which.
const port = process.env.PORT ? Number(process.env.PORT) : 3000;
const server = demo.app.listen(port, () => {
  console.error(`scrapehook demo on http://localhost:${(server.address() as AddressInfo).port}`);
  console.error('  POST /webhooks/firecrawl   POST /webhooks/standard');
  console.error('  POST /webhooks/{apify,thordata,webscraper}/<token>   GET /healthz');
});

// Graceful shutdown: stop taking connections, let the receivers answer 503 to stragglers, and
// wait for queued handlers (an acknowledged delivery in memory is lost if the process just exits).
async function shutdown(signal: string): Promise<void> {
  console.error(`${signal}: draining`);
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeIdleConnections();
  await demo.close();
  await closed;
  console.error('bye');
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
