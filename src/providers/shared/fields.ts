import { z } from 'zod';

/**
 * A string field that may also arrive as `null`; handlers see `string | undefined` either way.
 * Senders serialise "no value" inconsistently (Firecrawl drops the key, some documents carry
 * `null`), and a receiver that answers 400 for it would lose the delivery.
 */
export const optionalString = z
  .string()
  .nullish()
  .transform((value) => value ?? undefined)
  .optional();

/**
 * A string typed as one of the documented values, while accepting any other string: senders add
 * statuses over time, and an unknown one must not turn a delivery into a 400. Editors still
 * complete the documented values.
 */
export function openEnum<const T extends readonly string[]>(_documented: T): z.ZodType<T[number] | (string & {}), string> {
  return z.string();
}

/**
 * A number that may arrive as a number or a numeric string (templated bodies and forms carry
 * strings). An empty string, `null` or an absent key are `undefined`.
 */
export const lenientNumber = z.preprocess(
  (value) => (value === null || value === '' ? undefined : typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
  z.number().optional(),
);

/** An integer id that may arrive as a number or a string of digits (form fields are strings). */
export const integerId = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/, 'Expected a numeric id').transform(Number)]);

/** A string id that may arrive as a number (Thordata's `userId` is documented as a string, shown as a number). */
export const stringId = z.union([z.string(), z.number().transform(String)]);
