import type { Batch } from '../../src/import/types.ts';

/** Every batch an importer source yields, in order. */
export async function collect<R>(iterable: AsyncIterable<Batch<R>>): Promise<Batch<R>[]> {
  const out: Batch<R>[] = [];
  for await (const batch of iterable) out.push(batch);
  return out;
}
