// What `npm install scrapehook` gets: the tarball's file list (from `npm pack --dry-run`) and the
// built dist, checked on a copy of the project built with its own build config.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let stage = '';
let files: string[] = [];

beforeAll(async () => {
  // Under the project's node_modules, so the built dist resolves zod, p-queue and the rest from it.
  const cache = path.join(root, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  stage = mkdtempSync(path.join(cache, 'scrapehook-pack-'));
  for (const name of readdirSync(root)) {
    if (!/^(node_modules|dist|\.git|coverage|\.bench)$/.test(name)) cpSync(path.join(root, name), path.join(stage, name), { recursive: true });
  }
  await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: stage });
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: stage });
  files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((file) => file.path);
}, 120_000);

afterAll(() => {
  if (stage) rmSync(stage, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the LICENSE that package.json names', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('MIT');
    expect(files).toContain('LICENSE');
    expect(readFileSync(path.join(stage, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 scrapehook contributors\n/);
  });

  it('ships every source a source map or declaration map points to', () => {
    const maps = files.filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(path.join(stage, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(map), sourceRoot, source));
        if (!files.includes(target)) missing.push(`${map} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('holds every file package.json points to (main, types, bin, exports)', () => {
    const pkg = JSON.parse(readFileSync(path.join(stage, 'package.json'), 'utf8')) as Record<string, unknown>;
    const targets: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') targets.push(path.posix.normalize(value));
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    collect([pkg.main, pkg.types, pkg.bin, pkg.exports]);
    expect(targets).toContain('dist/cli.js');
    for (const target of targets) expect(files, target).toContain(target);
  });

  it('is ESM, and require() loads it from CommonJS (Node 20.19 and later)', async () => {
    const script = `
      const main = require('scrapehook');
      const testing = require('scrapehook/testing');
      const loaded = (name) => Object.keys(require.cache).some((file) => file.includes(name));
      const loadedBefore = ['fastify-plugin', 'prom-client', '@opentelemetry'].filter(loaded);
      const fastify = require('scrapehook/fastify');
      const prometheus = require('scrapehook/prometheus');
      const opentelemetry = require('scrapehook/opentelemetry');
      console.log(JSON.stringify([typeof main.createReceiver, typeof main.firecrawl, typeof testing.firecrawlDelivery, typeof fastify.scrapehookFastify, typeof prometheus.prometheusMetrics, typeof opentelemetry.openTelemetryTracing, loadedBefore]));
    `;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: stage });
    // scrapehook/fastify, /prometheus and /opentelemetry are subpaths: the main entry loads nothing of their peers.
    expect(JSON.parse(stdout)).toEqual(['function', 'function', 'function', 'function', 'function', 'function', []]);
    const pkg = JSON.parse(readFileSync(path.join(stage, 'package.json'), 'utf8')) as { type: string; engines: { node: string } };
    expect(pkg.type).toBe('module');
  });
});
