import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { main } from '../../src/cli/main.ts';
import { createReceiver, sqliteStore, thordata, type Receiver } from '../../src/index.ts';
import { sendDelivery, thordataDelivery } from '../../src/testing/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { BODY, SHOUTED, shoutingProvider } from '../helpers/shouting-provider.ts';
import { SIGNATURE_HEADER, sign } from '../helpers/test-provider.ts';

// A durable store keeps a delivery as its body as received (a copy of the bytes) rather than
// serializing the validated payload, and the receiver validates it again when it reads it back.

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;


let dir: string;
let path: string;
const receivers: Receiver<ReturnType<typeof shoutingProvider>>[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-raw-'));
  path = join(dir, 'hooks.db');
});

afterEach(async () => {
  for (const hooks of receivers.splice(0)) await hooks.close({ timeoutMs: 0 });
  rmSync(dir, { recursive: true, force: true });
});

function receiver(provider = shoutingProvider()) {
  const hooks = createReceiver({ provider, store: sqliteStore({ path }), retry: { attempts: 1 } });
  receivers.push(hooks);
  return hooks;
}

/** Accepts BODY while the handler hangs, then closes at once: the delivery stays unfinished on disk. */
async function acceptAndStop(): Promise<void> {
  const hooks = receiver();
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  hooks.on('page.scraped', (_event, ctx) => {
    started();
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  });
  const res = await sendRaw(hooks.nodeHandler(), { headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(BODY) }, body: BODY });
  expect(res.status).toBe(202);
  await running;
  await hooks.close({ timeoutMs: 0 });
}

function rows(): { payload: string | null; body: Buffer | null; body_type: string | null; state: string }[] {
  const db = new Sqlite(path, { readonly: true });
  try {
    return db.prepare('SELECT payload, body, body_type, state FROM deliveries JOIN contents USING (seq) ORDER BY seq').all() as never;
  } finally {
    db.close();
  }
}

describe('sqliteStore() keeping bodies as received', () => {
  it('writes the exact request bytes, not a serialized payload', async () => {
    await acceptAndStop();
    const [row] = rows();
    expect(row).toMatchObject({ payload: null, body_type: 'json', state: 'running' });
    expect(row!.body!.equals(Buffer.from(BODY))).toBe(true);
  });

  it('validates the body again after a restart: handlers get the schema’s output', async () => {
    await acceptAndStop();
    const hooks = receiver();
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => void payloads.push(event.payload));
    await hooks.onIdle();
    expect(payloads).toEqual([SHOUTED]);
  });

  it('makes a body that no longer passes its schema a dead letter with the validation error, shown decoded', async () => {
    await acceptAndStop();
    const hooks = receiver(shoutingProvider(z.string().max(5)));
    let ran = false;
    hooks.on('page.scraped', () => void (ran = true));
    await hooks.onIdle();
    expect(ran).toBe(false);
    const [letter] = await hooks.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-raw-1', error: { type: 'payload.invalid' }, attempts: 1 });
    expect(letter!.event.payload).toEqual(JSON.parse(BODY));
    expect(letter).not.toHaveProperty('body');
    await expect(hooks.replay('wh-raw-1')).rejects.toMatchObject({ type: 'payload.invalid' });
    expect(await hooks.deadLetters()).toHaveLength(1);

    // The CLI, which has no provider, shows the body decoded.
    await hooks.close();
    let stdout = '';
    const code = await main(['dead-letters', '--sqlite', path, '--json'], { stdout: (t) => (stdout += t), stderr: () => {}, env: {} });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject([{ id: 'wh-raw-1', event: { payload: JSON.parse(BODY) } }]);
  });

  it('keeps the validated payload instead for a provider whose body holds a secret (Thordata’s apiKey)', async () => {
    const token = 'thordata-token-for-tests';
    const hooks = createReceiver({ provider: thordata({ token }), store: sqliteStore({ path }) });
    hooks.on('ACTOR.RUN.SUCCEEDED', () => new Promise(() => {}));
    const delivery = thordataDelivery({ token, type: 'ACTOR.RUN.SUCCEEDED', tokenIn: 'query' });
    expect(delivery.body.toString()).toContain('apiKey');
    expect((await sendDelivery(hooks.nodeHandler(), delivery)).status).toBe(202);
    await hooks.close({ timeoutMs: 0 });
    const [row] = rows();
    expect(row!.body).toBeNull();
    expect(row!.payload).not.toContain('apiKey');
    expect(JSON.parse(row!.payload!)).toMatchObject({ eventType: 'ACTOR.RUN.SUCCEEDED' });
  });

  it.each([1, 2])('opens a database written by schema %i and runs what it left unfinished', async (version) => {
    const db = new Sqlite(path);
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, provider TEXT NOT NULL,
        payload TEXT NOT NULL, received_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0, error TEXT, updated_at INTEGER NOT NULL);
      CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
      CREATE INDEX deliveries_succeeded ON deliveries (updated_at) WHERE state = 'succeeded';
      CREATE TABLE dedupe (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE requeued (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
    `);
    const payload = { type: 'page.scraped', webhookId: 'wh-v1', markdown: 'KEPT AS VALIDATED' };
    db.prepare("INSERT INTO deliveries (id, type, provider, payload, received_at, state, updated_at) VALUES (?, ?, 'shout', ?, 1, 'queued', 1)").run(
      'wh-v1',
      'page.scraped',
      JSON.stringify(payload),
    );
    if (version === 2) {
      // Schema 2 added the body as received, with 'null' as the payload.
      db.exec('ALTER TABLE deliveries ADD COLUMN body BLOB; ALTER TABLE deliveries ADD COLUMN body_type TEXT;');
      db.prepare(
        "INSERT INTO deliveries (id, type, provider, payload, received_at, state, updated_at, body, body_type) VALUES ('wh-raw-1', 'page.scraped', 'shout', 'null', 2, 'queued', 2, ?, 'json')",
      ).run(Buffer.from(BODY));
    }
    db.pragma(`user_version = ${version}`);
    db.close();

    const hooks = receiver();
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => void payloads.push(event.payload));
    await hooks.onIdle();
    expect(payloads).toEqual(version === 2 ? [payload, SHOUTED] : [payload]);
    await hooks.close();
    const reopened = new Sqlite(path, { readonly: true });
    expect(reopened.pragma('user_version', { simple: true })).toBe(6);
    // Nothing of the old layout is left in the rows that state changes rewrite.
    const columns = (reopened.prepare('PRAGMA table_info(deliveries)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain('payload');
    expect(columns).not.toContain('body');
    reopened.close();
  });
});
