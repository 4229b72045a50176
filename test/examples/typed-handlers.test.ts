import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFirecrawlReceiver } from '../../examples/typed-handlers.ts';
import { firecrawlDelivery, sendDelivery } from '../../src/testing/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('examples/typed-handlers.ts (handlers declared apart from on(), in the README)', () => {
  it('is the README example, word for word, importing from scrapehook', () => {
    const example = readFileSync(path.join(root, 'examples/typed-handlers.ts'), 'utf8');
    const code = example.slice(example.indexOf('import {')).replace("from '../src/index.ts'", "from 'scrapehook'");
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## ESM, CommonJS and TypeScript'));
    expect(section.slice(0, section.indexOf('\n## ', 1))).toContain(`\`\`\`ts\n${code}\`\`\``);
  });

  it('runs the handler it declares apart from on(): a page is saved', async () => {
    const saved: (string | undefined)[] = [];
    const hooks = createFirecrawlReceiver('typed-secret', async (url) => void saved.push(url));
    close = () => hooks.close();
    expect((await sendDelivery(hooks.nodeHandler(), firecrawlDelivery({ secret: 'typed-secret', type: 'crawl.page' }))).status).toBe(202);
    await hooks.onIdle();
    expect(saved).toEqual(['https://example.com/pricing']);
  });
});
