import { z } from 'zod';
import { lenientNumber, objectOrJsonText, optionalString, stringId } from '../shared/fields.ts';

// The body of Thordata's documented payload template
// (https://doc.thordata.com/doc/scraping/web-scraper-api/integrations/webhook-integration), which
// mirrors Apify's. Its numeric fields are typed in a third-party catalog only, and a template can
// quote them, so numbers may arrive as strings. The flatter shape of Thordata's SDK spec
// (github.com/Thordata/thordata-sdk-spec `spec/v1/tasks.yaml`) is accepted too and converted. The
// documented template quotes `{{eventData}}` and `{{resource}}`, so those objects may arrive as JSON
// inside strings: they are parsed, then validated.

/** A URL field: Thordata sends `""` for a file it did not produce; handlers see `undefined`. */
const optionalUrl = z
  .string()
  .nullish()
  .transform((value) => (value ? value : undefined))
  .optional();

/** The spider parameters Thordata sends JSON-encoded in `resource.url`. */
export const thordataSpiderParams = z.looseObject({
  spider_id: stringId.optional(),
  spider_name: z.string().optional(),
  spider_errors: z.union([z.boolean(), z.string()]).optional(),
  spider_parameters: z.array(z.record(z.string(), z.unknown())).optional(),
});

/** The task, as `resource` of the documented template. */
const resourceObject = z.looseObject({
  taskId: stringId,
  /** The spider parameters as Thordata sends them: a JSON string (see `spiderParams`). */
  url: optionalString,
  apiUrl: optionalUrl,
  apiCode: lenientNumber,
  apiResponseTime: lenientNumber,
  apiErrorMsg: optionalString,
  apiResult: optionalString,
  errorNumber: lenientNumber,
  successRate: lenientNumber,
  runseconds: lenientNumber,
  /** e.g. `"Completed! 26 requests in total: 26 successful, 0 failed"`. */
  detail: optionalString,
  flow: lenientNumber,
  fileSize: lenientNumber,
  type: lenientNumber,
  csvUrl: optionalUrl,
  jsonUrl: optionalUrl,
  audioUrl: optionalUrl,
  videoUrl: optionalUrl,
  subtitleUrl: optionalUrl,
  /** Only in the SDK-spec shape. */
  status: optionalString,
  createdAt: optionalString,
  finishedAt: optionalString,
});

/**
 * The task as handlers see it: `url` offered parsed as `spiderParams`, and the account `apiKey`
 * Thordata echoes removed, so that no log line, dead letter or durable store ever holds it.
 */
export const thordataResource = resourceObject.transform(({ apiKey: _apiKey, ...resource }) => ({
  ...resource,
  /** `url` parsed; `undefined` when it is absent or not a JSON object. */
  spiderParams: parseSpiderParams(resource.url),
}));

function parseSpiderParams(url: string | undefined): z.output<typeof thordataSpiderParams> | undefined {
  if (url === undefined || !url.trimStart().startsWith('{')) return undefined;
  try {
    const result = thordataSpiderParams.safeParse(JSON.parse(url));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

const eventData = z.looseObject({
  /** The product (scraper) id, spelled as Thordata spells it. */
  prodect_id: stringId.optional(),
  /** The task id. */
  apiRunId: z.string().optional(),
});

/** Events Thordata documents. Its docs show `ACTOR.RUN.SUCCEEDED` only; `FAILED` mirrors Apify *(inferred)*. */
export const THORDATA_EVENT_TYPES = ['ACTOR.RUN.SUCCEEDED', 'ACTOR.RUN.FAILED'] as const;

/** A documented Thordata event type. */
export type ThordataEventType = (typeof THORDATA_EVENT_TYPES)[number];

function template<T extends z.ZodType<string>>(eventType: T) {
  return z.object({
    /** Documented as a string, shown as a number: always a string here. Absent from the SDK-spec shape. */
    userId: stringId.optional(),
    /** The masked account name. */
    userName: optionalString,
    /** When the event happened (ISO 8601). Absent from the SDK-spec shape when it has no `createdTime`. */
    createdAt: optionalString,
    eventType,
    // The documented template quotes these (`"eventData": "{{eventData}}"`): JSON inside a string.
    eventData: objectOrJsonText(eventData),
    resource: objectOrJsonText(thordataResource),
  });
}

/**
 * The event type of a body: `eventType`, or for the SDK-spec shape (which has none) one derived
 * from its `status`, else from `apiCode` (200 means success) *(inferred: the spec does not list
 * the status values)*.
 */
export function thordataEventType(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { eventType, status, apiCode } = body as Record<string, unknown>;
  if (typeof eventType === 'string' && eventType !== '') return eventType;
  if (!isFlat(body)) return undefined;
  if (typeof status === 'string' && status.trim() !== '') {
    if (/succe|finish|complete|done/i.test(status)) return 'ACTOR.RUN.SUCCEEDED';
    if (/fail|error/i.test(status)) return 'ACTOR.RUN.FAILED';
    return `ACTOR.RUN.${status.trim().toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
  }
  const code = Number(apiCode);
  if (apiCode === undefined || apiCode === '' || Number.isNaN(code)) return undefined;
  return code === 200 ? 'ACTOR.RUN.SUCCEEDED' : 'ACTOR.RUN.FAILED';
}

/** The SDK-spec shape: task fields at the top level, no `resource`. */
function isFlat(body: object): body is Record<string, unknown> {
  return !('resource' in body) && 'taskId' in body;
}

/** Rewrites an SDK-spec body into the template shape, so handlers see one shape. */
function fromFlat(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !isFlat(body)) return body;
  const { prodect_id, createdTime, endTime, ...task } = body;
  return {
    createdAt: createdTime,
    eventType: thordataEventType(body),
    eventData: { prodect_id, apiRunId: task.taskId },
    resource: { ...task, createdAt: createdTime, finishedAt: endTime },
  };
}

function event<const T extends ThordataEventType>(type: T) {
  return z.preprocess(fromFlat, template(z.literal(type)));
}

/** One schema per documented Thordata event type. */
export const thordataEvents = {
  'ACTOR.RUN.SUCCEEDED': event('ACTOR.RUN.SUCCEEDED'),
  'ACTOR.RUN.FAILED': event('ACTOR.RUN.FAILED'),
};

/** Any other `ACTOR.RUN.*` string (running, creation events, ...): accepted and handed to `onAny`. */
export const thordataEnvelope = z.preprocess(fromFlat, template(z.string()));

/** The validated payload of a Thordata event with the documented template. */
export type ThordataPayload<T extends ThordataEventType = ThordataEventType> = T extends ThordataEventType
  ? z.output<(typeof thordataEvents)[T]>
  : never;

/** A Thordata task (`resource`), without the account's `apiKey`. */
export type ThordataResource = z.output<typeof thordataResource>;

/** The spider parameters from `resource.url`. */
export type ThordataSpiderParams = z.output<typeof thordataSpiderParams>;
