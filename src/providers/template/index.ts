import type { z } from 'zod';
import type { RequestView } from '../../types.ts';
import type { TokenLocation, TokenOptions } from '../shared/token.ts';

// Apify and Thordata render the body from a payload template the user may edit (JSON with
// `{{variable}}` placeholders, https://docs.apify.com/platform/integrations/webhooks/actions).
// The default template gets a typed schema; an edited one needs the user's own schema and the
// place of the event type. This module holds what the two factories share.

/** Where the event type is: a property of the body, or a function of the body and the request. */
export type EventTypeLocation = string | ((body: unknown, request: RequestView) => string | undefined);

/** Options of a provider whose body comes from an editable payload template. */
export interface TemplateOptions extends TokenOptions {
  /**
   * Where the event type is when you pass your own `schema`: a body property, or a function (it
   * may read a header you set through the headers template, or answer a constant for a webhook
   * that fires on one event only).
   * @default 'eventType'
   */
  eventType?: EventTypeLocation;
}

/** Options with the user's own schema for a custom payload template. */
export interface CustomTemplateOptions<S extends z.ZodType> extends TemplateOptions {
  /** The zod schema of the body your payload template renders; handlers get its output type. */
  schema: S;
}

/** Where Apify and Thordata tokens are looked for unless `tokenFrom` says otherwise. */
export const TEMPLATE_TOKEN_LOCATION: TokenLocation = { param: 'token', query: 'token', header: 'authorization' };

/** Checks the custom schema option, reporting misconfiguration as a TypeError. */
export function checkSchema(schema: unknown): z.ZodType | undefined {
  if (schema === undefined) return undefined;
  if (typeof (schema as { safeParse?: unknown } | null)?.safeParse !== 'function') {
    throw new TypeError(`Expected \`schema\` to be a zod schema, got ${schema === null ? 'null' : typeof schema}`);
  }
  return schema as z.ZodType;
}

/** Checks the `eventType` option and returns it as a function. */
export function eventTypeReader(location: EventTypeLocation | undefined, fallback: EventTypeLocation): (body: unknown, request: RequestView) => string | undefined {
  const value = location ?? fallback;
  if (typeof value === 'function') return value;
  if (typeof value !== 'string' || value === '') throw new TypeError(`Expected \`eventType\` to be a property name or a function, got ${typeof value}`);
  return (body) => {
    const type = property(body, value);
    return typeof type === 'string' && type !== '' ? type : undefined;
  };
}

/** One schema for every documented event type: what a custom template gets. */
export function sameSchemaFor<const T extends string, S extends z.ZodType>(types: readonly T[], schema: S): Record<T, S> {
  return Object.fromEntries(types.map((type) => [type, schema])) as Record<T, S>;
}

/** A property of a plain object, following dotted paths; `undefined` for anything else. */
export function property(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The first of `paths` that holds a non-empty string or a number, as a string. */
export function firstId(value: unknown, ...paths: string[]): string | undefined {
  for (const path of paths) {
    const id = property(value, path);
    if ((typeof id === 'string' && id !== '') || typeof id === 'number') return String(id);
  }
  return undefined;
}
