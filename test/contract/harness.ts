// Plumbing of the contract suite: one describe per backend of BACKENDS, receivers served over real
// HTTP (node:http on port 0), deliveries built by scrapehook/testing, and everything closed after
// each test. Only the public API: createReceiver, nodeHandler, firecrawlDelivery, sendDelivery.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { createReceiver, firecrawl, type FirecrawlProvider, type Receiver, type ReceiverOptions } from '../../src/index.ts';
import { firecrawlDelivery, sendDelivery, type TestDelivery, type TestResponse } from '../../src/testing/index.ts';
import { killChildren } from '../durability/child.ts';
import { BACKENDS, type Backend, type ContractRow, type MakeOptions, type World } from './backends.ts';

export const SECRET = 'contract-secret';

/** Short backoff, so that retries are quick; every row awaits events rather than sleeping. */
export const FAST_RETRY = { attempts: 3, minDelayMs: 1, maxDelayMs: 5 } as const;

export type Hooks = Receiver<FirecrawlProvider>;

/** A receiver served over HTTP on 127.0.0.1, port 0. */
export interface Served {
  readonly hooks: Hooks;
  readonly url: string;
  /** POSTs the delivery as a sender would, over real HTTP. */
  send(delivery: TestDelivery): Promise<TestResponse>;
  /** Closes the receiver (then the HTTP server). */
  close(timeoutMs?: number): Promise<void>;
}

/** A signed Firecrawl delivery (a fresh webhookId, the dedupe id, per call) with fields merged over the sample. */
export function delivery(payload: Record<string, unknown> = {}): TestDelivery {
  return firecrawlDelivery({ secret: SECRET, type: 'crawl.page', payload });
}

/**
 * A delivery carrying `mark` (in the webhook's echoed `metadata`), which handlers read with
 * {@link markOf} to decide what to do with it (fail, hang...).
 */
export function marked(mark: string, payload: Record<string, unknown> = {}): TestDelivery {
  return delivery({ metadata: { mark }, ...payload });
}

/** The mark of an event made from {@link marked}. */
export function markOf(event: { payload: unknown }): string | undefined {
  return (event.payload as { metadata?: { mark?: string } }).metadata?.mark;
}

/** The dedupe id of a delivery built by {@link delivery}. */
export function idOf(d: TestDelivery): string {
  return (JSON.parse(d.body.toString()) as { webhookId: string }).webhookId;
}

/** A promise and its resolver. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

/**
 * A log of what handlers did, whose `until()` resolves as soon as a condition holds (checked at
 * each entry): tests await events rather than polling or sleeping.
 */
export class Log<T = string> {
  readonly entries: T[] = [];
  readonly #waiters = new Set<() => void>();

  push(entry: T): void {
    this.entries.push(entry);
    for (const check of this.#waiters) check();
  }

  /** Resolves once `condition(entries)` holds. */
  until(condition: (entries: readonly T[]) => boolean): Promise<void> {
    if (condition(this.entries)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!condition(this.entries)) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }
}

/** Options of {@link Harness.serve}. */
export type ServeOptions = Partial<ReceiverOptions<FirecrawlProvider>> & { make?: MakeOptions; handlers?: (hooks: Hooks) => void };

/** What each backend's describe block gets. */
export interface Harness {
  readonly backend: Backend;
  /** A fresh world of the backend for this test, freed after it. */
  world(): World;
  /**
   * A Firecrawl receiver named `name` (default `firecrawl`) on the world, served over HTTP, closed
   * after the test. `options` go to createReceiver (FAST_RETRY unless given). `handlers` registers
   * handlers right after createReceiver, as an app does: before the receiver re-queues what a
   * durable backend kept (registering them after an await would let a recovered delivery run
   * with no handler).
   */
  serve(world: World, options?: ServeOptions): Promise<Served>;
  /** `it`, or `it.skip` with the backend's reason when it does not promise `row`. */
  row(row: ContractRow): typeof it;
}

/**
 * Runs `body` once per backend of BACKENDS, in a describe named after it. A backend that cannot run
 * here (no server binary) is skipped with a warning, or fails the suite in CI.
 */
export function forEachBackend(title: string, body: (h: Harness) => void): void {
  describe.each(BACKENDS.map((backend) => ({ backend, name: backend.name })))(`${title} ($name)`, ({ backend }) => {
    if (!backend.available()) {
      if (process.env.CI === 'true') {
        it(`${backend.name}: its server must be installed in CI`, () => {
          throw new Error(`The ${backend.name} backend cannot run here: its server binary is missing (CI installs it)`);
        });
      } else {
        console.warn(`[contract] ${backend.name} skipped: its server binary is not installed`);
      }
      return;
    }
    const worlds: World[] = [];
    const served: Served[] = [];
    beforeAll(() => backend.setUp());
    afterEach(async () => {
      await killChildren();
      for (const s of served.splice(0).reverse()) await s.close(0).catch(() => {});
      for (const w of worlds.splice(0)) await w.cleanup();
    });
    afterAll(() => backend.tearDown());
    body({
      backend,
      world() {
        const w = backend.world();
        worlds.push(w);
        return w;
      },
      async serve(world, { make, handlers, ...options } = {}) {
        const name = options.name ?? 'firecrawl';
        const hooks: Hooks = createReceiver({ provider: firecrawl({ secret: SECRET }), name, retry: FAST_RETRY, ...world.make(name, make), ...options });
        handlers?.(hooks);
        const server = http.createServer(hooks.nodeHandler());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        let closed: Promise<void> | undefined;
        const s: Served = {
          hooks,
          url,
          send: (d) => sendDelivery(url, d),
          close(timeoutMs = 10_000) {
            closed ??= hooks.close({ timeoutMs }).finally(() => {
              server.closeAllConnections();
              server.close();
            });
            return closed;
          },
        };
        served.push(s);
        return s;
      },
      row(row) {
        const reason = backend.skip[row];
        if (reason === undefined) return it;
        return ((name: string, ...rest: unknown[]) => it.skip(`${name} [not promised by ${backend.name}: ${reason}]`, ...(rest as []))) as unknown as typeof it;
      },
    });
  });
}
