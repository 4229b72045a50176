import { describe, expect, it } from 'vitest';
import { HandlerRegistry, type AnyHandler } from '../../../src/core/handlers.ts';
import { testProvider } from '../../helpers/test-provider.ts';

const handler = (): AnyHandler => () => {};

describe('HandlerRegistry', () => {
  it('finds exact, wildcard, alias and onAny handlers of a known type, in that order', () => {
    const registry = new HandlerRegistry(testProvider());
    const [exact, wildcard, alias, any, other] = [handler(), handler(), handler(), handler(), handler()];
    registry.onAny(any);
    registry.on('page', alias);
    registry.on('crawl.*', wildcard);
    registry.on('crawl.page', exact);
    registry.on('crawl.started', other);
    expect(registry.for('crawl.page')).toEqual([exact, wildcard, alias, any]);
  });

  it('gives a type the provider does not know its exact handlers and onAny only', () => {
    const registry = new HandlerRegistry(testProvider());
    const [exact, wildcard, any] = [handler(), handler(), handler()];
    registry.on('crawl.*', wildcard);
    registry.on('crawl.unknown', exact);
    registry.onAny(any);
    expect(registry.for('crawl.unknown')).toEqual([exact, any]);
  });

  it('sees a subscription made or removed after a lookup (the cache is cleared)', () => {
    const registry = new HandlerRegistry(testProvider());
    const a = handler();
    expect(registry.for('crawl.page')).toEqual([]);
    const off = registry.on(['crawl.page', 'crawl.started'], a);
    expect(registry.for('crawl.page')).toEqual([a]);
    off();
    expect(registry.for('crawl.page')).toEqual([]);
    expect(registry.for('crawl.started')).toEqual([]);
  });

  it('refuses "*", "error", an empty type and a handler that is not a function', () => {
    const registry = new HandlerRegistry(testProvider());
    expect(() => registry.on('*', handler())).toThrow(/onAny/);
    expect(() => registry.on('error', handler())).toThrow(/onError/);
    expect(() => registry.on('', handler())).toThrow(TypeError);
    expect(() => registry.on('crawl.page', 'nope' as unknown as AnyHandler)).toThrow('Expected a handler function, got string');
    expect(() => registry.subscribe(registry.error, 1 as never)).toThrow(TypeError);
  });
});
