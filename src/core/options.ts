import bytes from '../body/bytes.ts';
import { nonNegativeInteger, positiveInteger } from '../check-options.ts';
import { DEFAULT_DEDUPE_MAX, DEFAULT_DEDUPE_TTL_MS } from '../dispatch/dedupe.ts';
import { LocalQueue } from '../dispatch/local-queue.ts';
import { safeLogger, silentLogger } from '../log.ts';
import { memoryStore } from '../store/memory-store.ts';
import type { Store } from '../store/types.ts';
import type { AnyEvent, AnyProvider, Logger } from '../types.ts';
import type { ReceiverOptions } from '../receiver.ts';
import type { Backend } from './backend.ts';

/** A receiver's options, checked, with their defaults. */
export interface ReceiverSettings<P extends AnyProvider> {
  readonly provider: P;
  readonly name: string;
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly handlerTimeoutMs: number;
  readonly attempts: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly retryAfterSeconds: number;
  /** 0 when deduplication is off. */
  readonly dedupeTtlMs: number;
  readonly limit: number;
  readonly bodyTimeoutMs: number;
  /** Every error logged goes through a safe copy: Redis errors carry passwords and bodies. */
  readonly logger: Logger;
  readonly orderBy: ((event: AnyEvent<P>) => string | undefined) | undefined;
  /** The `queue` option, or the in-process queue over the `store` option. */
  readonly backend: Backend;
  /** Whether deliveries run in this process after the answer (the in-process queue). */
  readonly runsHere: boolean;
}

/**
 * Checks a receiver's options and fills in their defaults.
 * @throws {TypeError} when an option is out of range.
 */
export function receiverSettings<P extends AnyProvider>(options: ReceiverOptions<P>): ReceiverSettings<P> {
  const { provider } = options;
  if (typeof provider !== 'object' || provider === null || typeof provider.verify !== 'function') {
    throw new TypeError('Expected `provider` to be a provider (see defineProvider), got ' + typeof provider);
  }
  const concurrency = positiveInteger('concurrency', options.concurrency ?? 10);
  const maxQueued = positiveInteger('maxQueued', options.maxQueued ?? 10_000);
  const handlerTimeoutMs = positiveInteger('handlerTimeoutMs', options.handlerTimeoutMs ?? 60_000);
  const attempts = positiveInteger('retry.attempts', options.retry?.attempts ?? 5);
  const minDelayMs = nonNegativeInteger('retry.minDelayMs', options.retry?.minDelayMs ?? 1000);
  const maxDelayMs = nonNegativeInteger('retry.maxDelayMs', options.retry?.maxDelayMs ?? 60_000);
  const retryAfterSeconds = nonNegativeInteger('retryAfterSeconds', options.retryAfterSeconds ?? 10);
  const dedupeTtlMs = options.dedupe === false ? 0 : positiveInteger('dedupe.ttlMs', options.dedupe?.ttlMs ?? provider.dedupeTtlMs ?? DEFAULT_DEDUPE_TTL_MS);
  const dedupeMax = options.dedupe === false ? 0 : positiveInteger('dedupe.max', options.dedupe?.max ?? DEFAULT_DEDUPE_MAX);
  const limit = parseLimit(options.limit ?? '10mb');
  const bodyTimeoutMs = positiveInteger('bodyTimeoutMs', options.bodyTimeoutMs ?? 30_000);
  const logger = safeLogger(options.logger ?? silentLogger);
  const { orderBy } = options;
  if (orderBy !== undefined && typeof orderBy !== 'function') {
    throw new TypeError(`Expected \`orderBy\` to be a function, got ${typeof orderBy}`);
  }
  if (options.store !== undefined && options.queue !== undefined) {
    throw new TypeError('Expected either `store` or `queue`, got both: a queue backend keeps its own state');
  }
  const name = receiverName(options.name ?? provider.name, options.name === undefined);
  const backend = options.queue ?? new LocalQueue(storeFor(options.store ?? memoryStore({ maxIds: dedupeMax || undefined }), name));
  return {
    provider,
    name,
    concurrency,
    maxQueued,
    handlerTimeoutMs,
    attempts,
    minDelayMs,
    maxDelayMs,
    retryAfterSeconds,
    dedupeTtlMs,
    limit,
    bodyTimeoutMs,
    logger,
    orderBy,
    backend,
    runsHere: options.queue === undefined,
  };
}

/**
 * A receiver's name: it tags what a shared store keeps and names a BullMQ queue, so it may not
 * hold `:` (BullMQ's separator) or control characters.
 */
function receiverName(name: unknown, fromProvider: boolean): string {
  // eslint-disable-next-line no-control-regex
  if (typeof name !== 'string' || name === '' || name.length > 100 || /[:\x00-\x1f\x7f]/.test(name)) {
    throw new TypeError(
      `Expected \`name\` to be a non-empty name of at most 100 characters without ':' or control characters, got ${JSON.stringify(name)}` +
        (fromProvider ? " (the provider's name, the default): give the receiver a `name`" : ''),
    );
  }
  return name;
}

/** Stores that serve a receiver already and cannot serve another (they have no `forReceiver`). */
const singleUse = new WeakMap<Store, string>();

/** The view of `store` for the receiver `name`: its own deliveries only. */
function storeFor(store: Store, name: string): Store {
  if (typeof store !== 'object' || store === null || typeof store.accept !== 'function') {
    throw new TypeError(`Expected \`store\` to be a store (memoryStore(), sqliteStore(...)), got ${store === null ? 'null' : typeof store}`);
  }
  if (typeof store.forReceiver === 'function') return store.forReceiver(name);
  const user = singleUse.get(store);
  if (user !== undefined) {
    throw new TypeError(
      `Expected a store of its own for receiver ${JSON.stringify(name)}: this store serves receiver ${JSON.stringify(user)} and has no forReceiver() to serve several`,
    );
  }
  singleUse.set(store, name);
  return store;
}

function parseLimit(value: number | string): number {
  const parsed = typeof value === 'number' ? value : bytes(value);
  if (parsed === undefined || !Number.isInteger(parsed) || parsed < 1) {
    throw new TypeError(`Expected \`limit\` to be a positive number of bytes or a size such as '10mb', got ${JSON.stringify(value)}`);
  }
  return parsed;
}
