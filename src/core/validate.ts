import { decodeBody } from '../body/decode-body.ts';
import { WebhookError, type PayloadIssue } from '../errors.ts';
import type { AnyProvider, Delivery, ReceivedBody } from '../types.ts';

/*
 * Validation, in one place: every adapter's request, `receive()`, and a delivery kept as its body
 * and read back (recovery, retries on another process, dead letters shown) are validated here, with
 * the same schema and the same `payload.invalid` error.
 */

type Schema = AnyProvider['envelope'];
type Parsed = { success: true; data: unknown } | { success: false; error: { issues: readonly { path: PropertyKey[]; code: string; message: string }[] } };

/** The schema a payload of `type` is validated with: the event's own, or the provider's envelope. */
export function payloadSchema(provider: AnyProvider, type: string): Schema {
  return Object.hasOwn(provider.events, type) ? provider.events[type]! : provider.envelope;
}

/** The `payload.invalid` error for a failed validation: paths, codes and messages, never values. */
export function payloadInvalid(type: string, error: { issues: readonly { path: PropertyKey[]; code: string; message: string }[] }): WebhookError {
  const issues: PayloadIssue[] = error.issues.map((i) => ({ path: i.path, code: i.code, message: i.message }));
  return new WebhookError('payload.invalid', `The ${type} payload does not match its schema`, { issues });
}

/**
 * Validates `body` as a payload of `type`, synchronously when the schema allows it (no promise on
 * the acknowledgement path): the parse result, or a promise of it for a schema with async
 * refinements.
 */
export function validate(provider: AnyProvider, type: string, body: unknown): Parsed | Promise<Parsed> {
  const schema = payloadSchema(provider, type);
  return trySafeParse(schema, body) ?? schema.safeParseAsync(body);
}

/**
 * The payload of `type` validated, or a rejection with the `payload.invalid` error: for
 * `receive()` and a body read back.
 */
export async function validPayload(provider: AnyProvider, type: string, body: unknown): Promise<unknown> {
  const result = await validate(provider, type, body);
  if (!result.success) throw payloadInvalid(type, result.error);
  return result.data;
}

/**
 * Rebuilds a delivery kept as its body as received: decodes it and validates it with the event's
 * schema again. Rejects with a `payload.invalid` or `entity.parse.failed` WebhookError.
 */
export async function revive(provider: AnyProvider, delivery: Delivery, body: ReceivedBody): Promise<Delivery> {
  const payload = await validPayload(provider, delivery.type, await decodeBody(body.bytes, body.type));
  const revived: Delivery = { id: delivery.id, type: delivery.type, provider: delivery.provider, payload, receivedAt: delivery.receivedAt };
  // The trace context of the request that delivered it, so an attempt links to it (telemetry).
  return delivery.traceparent === undefined ? revived : { ...revived, traceparent: delivery.traceparent };
}

function trySafeParse(schema: Schema, body: unknown): Parsed | undefined {
  try {
    return schema.safeParse(body);
  } catch (error) {
    // A schema with async refinements cannot be parsed synchronously: use the async path.
    if ((error as { name?: string }).name === '$ZodAsyncError' || (error as Error).constructor?.name === '$ZodAsyncError') return undefined;
    throw error;
  }
}
