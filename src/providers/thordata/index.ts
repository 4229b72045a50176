import type { z } from 'zod';
import { defineProvider } from '../define-provider.ts';
import { tokenVerifier } from '../shared/token.ts';
import {
  TEMPLATE_TOKEN_LOCATION,
  checkSchema,
  eventTypeReader,
  firstId,
  sameSchemaFor,
  type CustomTemplateOptions,
  type TemplateOptions,
} from '../template/index.ts';
import type { DedupeInput, Provider } from '../../types.ts';
import { THORDATA_EVENT_TYPES, thordataEnvelope, thordataEvents, thordataEventType, type ThordataEventType } from './schema.ts';

export type { ThordataEventType, ThordataPayload, ThordataResource, ThordataSpiderParams } from './schema.ts';

/** Options of {@link thordata} with Thordata's documented payload template. */
export type ThordataOptions = Omit<TemplateOptions, 'eventType'>;

/** Options of {@link thordata} for a custom payload template: your schema, and where the event type is. */
export type ThordataCustomOptions<S extends z.ZodType> = CustomTemplateOptions<S>;

type NoAliases = Record<never, never>;

/** The provider {@link thordata} returns for the documented payload template. */
export type ThordataProvider = Provider<typeof thordataEvents, typeof thordataEnvelope, NoAliases>;

/** The provider {@link thordata} returns for a custom payload template: every event has your schema. */
export type ThordataCustomProvider<S extends z.ZodType> = Provider<Record<ThordataEventType, S>, S, NoAliases>;

/**
 * Receives Thordata Web Scraper API webhooks (task succeeded or failed).
 *
 * Thordata signs nothing and documents no authentication
 * (https://doc.thordata.com/doc/scraping/web-scraper-api/integrations/webhook-integration): put a
 * secret token in the webhook URL, or in a header through the headers template. By default the
 * token is accepted from the route parameter `:token`, the query parameter `?token=` or an
 * `Authorization: Bearer <token>` header, compared in constant time; `tokenFrom` narrows that.
 *
 * The body echoes your account's `apiKey`: it is removed from the payload, and scrapehook never
 * logs bodies nor stores them with it (a durable store keeps the payload, not the raw bytes).
 * `resource.url` (a JSON string of the spider parameters) is offered parsed as
 * `resource.spiderParams`, and numbers sent as strings are numbers. `eventData` and `resource` sent
 * as JSON inside strings (the documented template quotes them) are parsed, then validated; any other
 * string there is a 400 naming the field. The flatter body described by
 * Thordata's SDK spec is accepted and converted to the same shape.
 *
 * Deliveries are deduplicated by the `Webhook-Dispatch-Id` header plus the event type (the header
 * is said to carry the task id, which two events of one task share); without the header, by the
 * task id plus the event type. Thordata documents no timeout or retry policy.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: thordata({ token: process.env.THORDATA_WEBHOOK_TOKEN }) });
 * hooks.on('ACTOR.RUN.SUCCEEDED', importRows(thordataResults({ token, key }), { write: (rows) => db.insertMany(rows) }));
 * hooks.on('ACTOR.RUN.FAILED', ({ payload }) => alert(payload.resource.apiErrorMsg));
 * app.all('/webhooks/thordata/:token', hooks.middleware());
 * ```
 * @throws {TypeError} when no token is given, or `schema` is not a zod schema.
 */
export function thordata<S extends z.ZodType>(options: ThordataCustomOptions<S>): ThordataCustomProvider<S>;
export function thordata(options: ThordataOptions): ThordataProvider;
export function thordata(options: ThordataOptions | ThordataCustomOptions<z.ZodType>): ThordataProvider | ThordataCustomProvider<z.ZodType> {
  const verify = tokenVerifier(options, TEMPLATE_TOKEN_LOCATION);
  const schema = checkSchema((options as Partial<ThordataCustomOptions<z.ZodType>>).schema);
  const eventType = schema ? eventTypeReader((options as TemplateOptions).eventType, 'eventType') : thordataEventType;
  // The body holds the account's apiKey: a durable store keeps the payload without it, not the bytes.
  const common = { name: 'thordata', verify, eventType, dedupeId, keepRawBody: false } as const;
  if (schema) return defineProvider({ ...common, events: sameSchemaFor(THORDATA_EVENT_TYPES, schema), envelope: schema });
  return defineProvider({ ...common, events: thordataEvents, envelope: thordataEnvelope });
}

function dedupeId({ type, payload, header }: DedupeInput): string | undefined {
  // The dispatch id is said to carry the task id, which a task's running and final events would
  // share: the event type keeps them apart, and changes nothing if the id is per dispatch.
  const id = header('webhook-dispatch-id') || firstId(payload, 'resource.taskId', 'eventData.apiRunId', 'taskId');
  return id === undefined ? undefined : `${id}:${type}`;
}
