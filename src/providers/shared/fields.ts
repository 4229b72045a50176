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

/**
 * An object that may also arrive as JSON inside a string: a payload template that quotes its
 * variables (`"resource": "{{resource}}"`, as Thordata's documented template does) renders the
 * object as text. A string holding a JSON object is parsed, then validated by `schema`; any other
 * string is an issue at this field's path (never echoing the text, which may hold a secret).
 */
export function objectOrJsonText<T extends z.ZodType>(schema: T): z.ZodType<z.output<T>, z.input<T> | string> {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
    ctx.addIssue({ code: 'custom', message: 'Expected an object, or a string holding a JSON object' });
    return z.NEVER;
  }, schema) as unknown as z.ZodType<z.output<T>, z.input<T> | string>;
}
