import { describe, expect, it } from 'vitest';
import { firecrawl } from '../../../src/index.ts';
import { Instruments, type MetricsSink } from '../../../src/telemetry/instruments.ts';
import type { Delivery } from '../../../src/types.ts';

const delivery: Delivery = { id: 'wh-1', type: 'crawl.page', provider: 'firecrawl', payload: {}, receivedAt: new Date() };

describe('Instruments', () => {
  it('without a sink, costs nothing: no mark, no trace on the delivery, the attempt is run() itself', async () => {
    const instruments = new Instruments('firecrawl', firecrawl({ secret: 's' }));
    expect(instruments.request()).toBeUndefined();
    const copy = { ...delivery };
    instruments.accepting(undefined, copy);
    expect(copy).toEqual(delivery);
    const pending = Promise.resolve();
    // Not wrapped: the very promise run() answered, with no closure or extra promise per attempt.
    expect(instruments.attempt(() => pending, delivery, 1)).toBe(pending);
  });

  it('with a metrics sink, times answers and attempts, and passes an attempt failure through unchanged', async () => {
    const instruments = new Instruments('firecrawl', firecrawl({ secret: 's' }));
    const seen: unknown[] = [];
    const sink: MetricsSink = {
      answered: (_i, outcome, seconds) => void seen.push(['answered', outcome, seconds >= 0]),
      attempted: (_i, type, outcome, seconds) => void seen.push(['attempted', type, outcome, seconds >= 0]),
    };
    instruments.metrics = sink;
    const mark = instruments.request();
    expect(mark).toBeDefined();
    instruments.accepting(mark, { ...delivery });
    instruments.answered(mark, 202, undefined);
    instruments.answered(instruments.request(), 200, undefined);
    instruments.answered(instruments.request(), 401, 'unauthorized');
    await instruments.attempt(async () => {}, delivery, 1);
    const failure = new Error('boom');
    await expect(instruments.attempt(() => Promise.reject(failure), { ...delivery, type: 'made.up' }, 2)).rejects.toBe(failure);
    await expect(instruments.attempt(() => { throw failure; }, delivery, 3)).rejects.toBe(failure);
    expect(seen).toEqual([
      ['answered', 'accepted', true],
      ['answered', 'duplicate', true],
      ['answered', 'rejected', true],
      ['attempted', 'crawl.page', 'succeeded', true],
      ['attempted', 'other', 'failed', true],
      ['attempted', 'crawl.page', 'failed', true],
    ]);
  });
});
