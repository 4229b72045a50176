import { z } from 'zod';

// The payload structure the Standard Webhooks spec recommends (not mandates):
// `{ type: "a.b", timestamp: ISO 8601, data: object }`
// (github.com/standard-webhooks/standard-webhooks `spec/standard-webhooks.md`).

/** The schema of a Standard Webhooks payload whose `data` is validated by `D`. */
export type StandardWebhookSchema<T extends z.ZodType<string>, D extends z.ZodType> = z.ZodObject<
  { type: T; timestamp: z.ZodOptional<z.ZodString>; data: D },
  z.core.$strip
>;

/** Builds the payload schema for one event type (a literal) or any (a string). */
export function standardWebhookSchema<T extends z.ZodType<string>, D extends z.ZodType>(type: T, data: D): StandardWebhookSchema<T, D> {
  return z.object({
    type,
    /** When the event happened, as the sender wrote it (ISO 8601 per the spec). */
    timestamp: z.string().optional(),
    data,
  });
}

/** The validated payload of a Standard Webhooks event: `data` typed by your schema. */
export interface StandardWebhookPayload<T extends string = string, D = unknown> {
  readonly type: T;
  readonly timestamp?: string | undefined;
  readonly data: D;
}
