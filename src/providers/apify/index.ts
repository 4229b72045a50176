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
import { APIFY_EVENT_TYPES, apifyEnvelope, apifyEvents, type ApifyEventType } from './schema.ts';

export type { ApifyBuild, ApifyEventType, ApifyPayload, ApifyRun } from './schema.ts';
export type { EventTypeLocation } from '../template/index.ts';
export type { TokenLocation } from '../shared/token.ts';

/** Options of {@link apify} with Apify's default payload template. */
export type ApifyOptions = Omit<TemplateOptions, 'eventType'>;

/** Options of {@link apify} for a custom payload template: your schema, and where the event type is. */
export type ApifyCustomOptions<S extends z.ZodType> = CustomTemplateOptions<S>;

type NoAliases = Record<never, never>;

/** The provider {@link apify} returns for the default payload template. */
export type ApifyProvider = Provider<typeof apifyEvents, typeof apifyEnvelope, NoAliases>;

/** The provider {@link apify} returns for a custom payload template: every event has your schema. */
export type ApifyCustomProvider<S extends z.ZodType> = Provider<Record<ApifyEventType, S>, S, NoAliases>;

/**
 * Receives Apify webhooks (Actor run and build events, and the Console's test event).
 *
 * Apify signs nothing: it advises a secret token in the webhook URL or in a header you add through
 * the headers template (https://docs.apify.com/platform/integrations/webhooks/actions). By default
 * the token is accepted from the route parameter `:token`, the query parameter `?token=` or an
 * `Authorization: Bearer <token>` header, compared in constant time; `tokenFrom` narrows that.
 * Deliveries are deduplicated by `X-Apify-Webhook-Dispatch-Id`, which Apify's retries of one
 * dispatch share; without it, by the run or build id plus the event type.
 *
 * Apify waits 2 minutes for a 2xx (30 s before July 2026) and retries with exponential backoff
 * from about 1 minute up to an 11th retry about 32 hours later.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: apify({ token: process.env.APIFY_WEBHOOK_TOKEN }) });
 * hooks.on('ACTOR.RUN.SUCCEEDED', async ({ payload }) => importDataset(payload.resource.defaultDatasetId));
 * app.all('/webhooks/apify/:token', hooks.middleware());
 *
 * // A custom payload template: pass its schema and say where the event type is.
 * apify({ token, schema: z.object({ event: z.string(), runId: z.string() }), eventType: 'event' });
 * ```
 * @throws {TypeError} when no token is given, or `schema` is not a zod schema.
 */
export function apify<S extends z.ZodType>(options: ApifyCustomOptions<S>): ApifyCustomProvider<S>;
export function apify(options: ApifyOptions): ApifyProvider;
export function apify(options: ApifyOptions | ApifyCustomOptions<z.ZodType>): ApifyProvider | ApifyCustomProvider<z.ZodType> {
  const verify = tokenVerifier(options, TEMPLATE_TOKEN_LOCATION);
  const schema = checkSchema((options as Partial<ApifyCustomOptions<z.ZodType>>).schema);
  const eventType = eventTypeReader(schema ? (options as TemplateOptions).eventType : undefined, 'eventType');
  const common = { name: 'apify', verify, eventType, dedupeId } as const;
  if (schema) return defineProvider({ ...common, events: sameSchemaFor(APIFY_EVENT_TYPES, schema), envelope: schema });
  return defineProvider({ ...common, events: apifyEvents, envelope: apifyEnvelope });
}

function dedupeId({ type, payload, header }: DedupeInput): string | undefined {
  const dispatch = header('x-apify-webhook-dispatch-id');
  if (dispatch) return dispatch;
  // Apify always sets the header; a proxy may drop it. The run (or build) and the event type
  // identify one notification, except that a resurrected run may end the same way twice.
  const resource = firstId(payload, 'resource.id', 'eventData.actorRunId', 'eventData.actorBuildId');
  return resource === undefined ? undefined : `${resource}:${type}`;
}
