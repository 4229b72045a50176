// The Web Scraper Cloud mock for `npm run bench:import`, in its own process (pinned to its own core
// when possible) so that generating the file does not share a core with the import measured.
// Job 1: `rows` records of ~500 bytes of JSON Lines, generated lazily (never whole in memory).
import { webScraperApiMock } from '../dist/testing/index.js';

const rows = Number(process.argv[2]);
const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, café ñ 東京. '.repeat(6);
const api = await webScraperApiMock({
  token: 'bench-token',
  rateLimit: false,
  jobs: [{ id: 1, rows: { count: rows, row: (i) => ({ title: `Item ${i}`, price: i % 997, url: `https://example.com/p/${i}`, text: filler }) } }],
});
process.send({ type: 'ready', apiUrl: api.apiUrl });
process.on('message', async (msg) => {
  if (msg?.type === 'exit') {
    await api.close();
    process.exit(0);
  }
});
