// The root entry must not bundle test code: the builders and samples live next to their providers
// (src/providers/<p>/testing.ts) and only `scrapehook/testing` and the CLI may import them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const src = path.resolve(import.meta.dirname, '../../src');

/** Every module `entry` loads at run time (relative imports and re-exports that are not type-only). */
function runtimeGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'(\.[^']+)'/gm)) {
      if (match[2] === undefined) visit(path.resolve(path.dirname(file), match[3]!));
    }
    for (const match of text.matchAll(/\bimport\('(\.[^']+)'\)/g)) visit(path.resolve(path.dirname(file), match[1]!));
  };
  visit(path.join(src, entry));
  return new Set([...seen].map((file) => path.relative(src, file)));
}

describe('the root entry', () => {
  it('loads no testing module: builders and samples reach users only through scrapehook/testing', () => {
    const root = runtimeGraph('index.ts');
    expect(root).toContain(path.join('providers', 'firecrawl', 'index.ts'));
    expect([...root].filter((file) => /(^|[/\\])testing([/\\.]|$)/.test(file))).toEqual([]);
  });

  it('scrapehook/testing and the CLI reach each provider\'s builder through its own testing module', () => {
    for (const entry of ['testing/index.ts', 'cli.ts']) {
      const graph = runtimeGraph(entry);
      for (const provider of ['firecrawl', 'apify', 'thordata', 'web-scraper', 'standard-webhooks']) {
        expect(graph, entry).toContain(path.join('providers', provider, 'testing.ts'));
      }
    }
  });
});
