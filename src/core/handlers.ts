import type { AnyProvider, ErrorHandler, Handler, InvalidDelivery, WebhookEvent } from '../types.ts';

export type AnyHandler = Handler<WebhookEvent>;

/** Removes the listener it was returned for. */
export type Unsubscribe = () => void;

/**
 * A receiver's listeners: handlers by event type, pattern or alias (`on`), for every event
 * (`onAny`), for dead letters (`onError`) and for refused payloads (`onInvalid`), with the list of
 * handlers per event type cached until a subscription changes.
 */
export class HandlerRegistry<P extends AnyProvider> {
  readonly #provider: P;
  readonly #handlers = new Map<string, Set<AnyHandler>>();
  readonly #any = new Set<AnyHandler>();
  readonly error = new Set<ErrorHandler<P>>();
  readonly invalid = new Set<(delivery: InvalidDelivery) => unknown>();
  /** Handler lists per event type, rebuilt after any subscription changes. */
  readonly #cache = new Map<string, readonly AnyHandler[]>();
  /** Per known event type, the aliases that name it. */
  readonly #aliasesOf = new Map<string, string[]>();

  constructor(provider: P) {
    this.#provider = provider;
    for (const [alias, types] of Object.entries(provider.aliases)) {
      for (const type of types) this.#aliasesOf.set(type, [...(this.#aliasesOf.get(type) ?? []), alias]);
    }
  }

  /** `receiver.on()`: one subscription per pattern, removed together. */
  on(pattern: string | readonly string[], handler: AnyHandler): Unsubscribe {
    const patterns: readonly string[] = typeof pattern === 'string' ? [pattern] : pattern;
    const offs = patterns.map((name) => {
      if (typeof name !== 'string' || name === '') throw new TypeError(`Expected an event type, got ${JSON.stringify(name)}`);
      if (name === '*') throw new TypeError('Use onAny(handler) to receive every event, not on("*")');
      if (name === 'error') throw new TypeError('Use onError(handler) for failed deliveries, not on("error")');
      let set = this.#handlers.get(name);
      if (!set) this.#handlers.set(name, (set = new Set()));
      return this.subscribe(set, handler);
    });
    return () => offs.forEach((off) => off());
  }

  onAny(handler: AnyHandler): Unsubscribe {
    return this.subscribe(this.#any, handler);
  }

  /** Adds a listener to one of the sets; `onError` and `onInvalid` use it on `error` and `invalid`. */
  subscribe<T>(set: Set<T>, item: T): Unsubscribe {
    if (typeof item !== 'function') throw new TypeError(`Expected a handler function, got ${typeof item}`);
    set.add(item);
    this.#cache.clear();
    return () => {
      set.delete(item);
      this.#cache.clear();
    };
  }

  /** Whether no handler is registered at all (`on` or `onAny`): a delivery run now reaches nobody. */
  get empty(): boolean {
    if (this.#any.size > 0) return false;
    for (const set of this.#handlers.values()) if (set.size > 0) return false;
    return true;
  }

  /**
   * Every handler for an event type: exact, each dotted prefix with `.*`, aliases, then onAny.
   * Wildcards and aliases match only the provider's known types, as their handler types say;
   * a type the provider does not know reaches onAny (and handlers registered for its exact name).
   */
  for(type: string): readonly AnyHandler[] {
    const cached = this.#cache.get(type);
    if (cached) return cached;
    const out: AnyHandler[] = [];
    const add = (key: string) => {
      const set = this.#handlers.get(key);
      if (set) for (const h of set) out.push(h);
    };
    add(type);
    if (Object.hasOwn(this.#provider.events, type)) {
      for (let dot = type.indexOf('.'); dot !== -1; dot = type.indexOf('.', dot + 1)) add(`${type.slice(0, dot)}.*`);
      for (const alias of this.#aliasesOf.get(type) ?? []) add(alias);
    }
    for (const h of this.#any) out.push(h);
    // Senders may invent types: keep the cache bounded.
    if (this.#cache.size >= 1000) this.#cache.clear();
    this.#cache.set(type, out);
    return out;
  }
}
