import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import express from 'express';
import { afterEach } from 'vitest';
import type { AnyProvider, Logger, Receiver, WebhookEvent } from '../../src/index.ts';

/** A sample delivery from test/fixtures (see its README). */
export interface Fixture {
  readonly file: string;
  readonly provider: string;
  readonly event: string;
  readonly headers: Record<string, string>;
  readonly body?: Record<string, unknown>;
  readonly bodyText?: string;
}

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Every fixture of one provider folder, sorted by file name. */
export function fixtures(folder: string): Fixture[] {
  const dir = new URL(`${folder}/`, FIXTURES);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Omit<Fixture, 'file'>) }));
}

/** One fixture by file name. */
export function fixture(folder: string, file: string): Fixture {
  const found = fixtures(folder).find((f) => f.file === file);
  if (!found) throw new Error(`No fixture ${folder}/${file}`);
  return found;
}

const open: Receiver<AnyProvider>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((hooks) => hooks.close({ timeoutMs: 1000 })));
});

/** Closes the receiver after the test. */
export function track<P extends AnyProvider>(hooks: Receiver<P>): Receiver<P> {
  open.push(hooks as unknown as Receiver<AnyProvider>);
  return hooks;
}

/** An Express app with the receiver mounted at each path. */
export function appWith<P extends AnyProvider>(hooks: Receiver<P>, ...paths: string[]): http.RequestListener {
  const app = express();
  for (const path of paths) app.post(path, hooks.middleware());
  return app;
}

/** Records every event the receiver dispatches (through onAny). */
export function recordEvents<P extends AnyProvider>(hooks: Receiver<P>): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  hooks.onAny((event) => void events.push(event));
  return events;
}

/** A logger that keeps every line as JSON text, to check what reaches logs. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (obj: unknown, msg?: string) =>
    void lines.push(JSON.stringify({ obj, msg }, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v)));
  return { lines, debug: log, info: log, warn: log, error: log };
}
