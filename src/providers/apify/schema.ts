import { z } from 'zod';
import { openEnum } from '../shared/fields.ts';

// The body Apify renders from its default payload template
// `{"userId":{{userId}},"createdAt":{{createdAt}},"eventType":{{eventType}},"eventData":{{eventData}},"resource":{{resource}}}`
// (https://docs.apify.com/platform/integrations/webhooks/actions). `resource` is a snapshot of the
// run (GET /v2/actor-runs/{id}) or build at trigger time: loose, because Apify keeps adding fields.

/** The statuses of an Actor run (https://docs.apify.com/api/v2/actor-run-get). */
export const APIFY_RUN_STATUSES = ['READY', 'RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTING', 'ABORTED', 'TIMING-OUT', 'TIMED-OUT'] as const;

/** An Actor run, as `resource` of the `ACTOR.RUN.*` events. */
export const apifyRun = z.looseObject({
  id: z.string(),
  actId: z.string(),
  userId: z.string().optional(),
  actorTaskId: z.string().nullish(),
  startedAt: z.string(),
  finishedAt: z.string().nullish(),
  status: openEnum(APIFY_RUN_STATUSES),
  statusMessage: z.string().nullish(),
  isStatusMessageTerminal: z.boolean().nullish(),
  meta: z.looseObject({ origin: z.string().optional(), clientIp: z.string().nullish(), userAgent: z.string().nullish() }).optional(),
  stats: z.record(z.string(), z.unknown()).optional(),
  options: z
    .looseObject({
      build: z.string().optional(),
      timeoutSecs: z.number().optional(),
      memoryMbytes: z.number().optional(),
      diskMbytes: z.number().optional(),
    })
    .optional(),
  buildId: z.string().nullish(),
  buildNumber: z.string().nullish(),
  exitCode: z.number().nullish(),
  defaultKeyValueStoreId: z.string(),
  defaultDatasetId: z.string(),
  defaultRequestQueueId: z.string(),
  containerUrl: z.string().optional(),
  usageTotalUsd: z.number().optional(),
  chargedEventCounts: z.record(z.string(), z.number()).optional(),
});

/** An Actor build, as `resource` of the `ACTOR.BUILD.*` events. */
export const apifyBuild = z.looseObject({
  id: z.string(),
  actId: z.string(),
  userId: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().nullish(),
  status: openEnum(APIFY_RUN_STATUSES),
  buildNumber: z.string().optional(),
  meta: z.looseObject({ origin: z.string().optional() }).optional(),
  stats: z.record(z.string(), z.unknown()).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});

const runEventData = z.looseObject({ actorId: z.string(), actorTaskId: z.string().nullish(), actorRunId: z.string() });
const buildEventData = z.looseObject({ actorId: z.string(), actorBuildId: z.string() });

const envelopeFields = {
  /** The webhook owner's user id. */
  userId: z.string(),
  /** When the triggering event happened (ISO 8601). */
  createdAt: z.string(),
};

function runEvent<const T extends string>(type: T) {
  return z.object({ ...envelopeFields, eventType: z.literal(type), eventData: runEventData, resource: apifyRun });
}

function buildEvent<const T extends string>(type: T) {
  return z.object({ ...envelopeFields, eventType: z.literal(type), eventData: buildEventData, resource: apifyBuild });
}

/** One schema per documented Apify event type (https://docs.apify.com/platform/integrations/webhooks/events). */
export const apifyEvents = {
  'ACTOR.RUN.CREATED': runEvent('ACTOR.RUN.CREATED'),
  'ACTOR.RUN.SUCCEEDED': runEvent('ACTOR.RUN.SUCCEEDED'),
  'ACTOR.RUN.FAILED': runEvent('ACTOR.RUN.FAILED'),
  'ACTOR.RUN.ABORTED': runEvent('ACTOR.RUN.ABORTED'),
  // The event says TIMED_OUT while the run's status says TIMED-OUT: both as Apify spells them.
  'ACTOR.RUN.TIMED_OUT': runEvent('ACTOR.RUN.TIMED_OUT'),
  'ACTOR.RUN.RESURRECTED': runEvent('ACTOR.RUN.RESURRECTED'),
  'ACTOR.BUILD.CREATED': buildEvent('ACTOR.BUILD.CREATED'),
  'ACTOR.BUILD.SUCCEEDED': buildEvent('ACTOR.BUILD.SUCCEEDED'),
  'ACTOR.BUILD.FAILED': buildEvent('ACTOR.BUILD.FAILED'),
  'ACTOR.BUILD.ABORTED': buildEvent('ACTOR.BUILD.ABORTED'),
  'ACTOR.BUILD.TIMED_OUT': buildEvent('ACTOR.BUILD.TIMED_OUT'),
  // Sent by the Console's "Test" button and POST /v2/webhooks/{id}/test: a dummy resource, or none.
  TEST: z.object({
    ...envelopeFields,
    eventType: z.literal('TEST'),
    eventData: z.record(z.string(), z.unknown()).nullish(),
    resource: z.record(z.string(), z.unknown()).nullish(),
  }),
};

/** The documented Apify event types, e.g. `ACTOR.RUN.SUCCEEDED`. */
export type ApifyEventType = keyof typeof apifyEvents;

/** The Apify event types, in the order of the docs. */
export const APIFY_EVENT_TYPES = Object.keys(apifyEvents) as ApifyEventType[];

/** An event type Apify adds later (any other `eventType`): accepted and handed to `onAny`. */
export const apifyEnvelope = z.object({
  ...envelopeFields,
  eventType: z.string(),
  eventData: z.record(z.string(), z.unknown()).nullish(),
  resource: z.record(z.string(), z.unknown()).nullish(),
});

/** The validated payload of an Apify event type with the default payload template. */
export type ApifyPayload<T extends ApifyEventType = ApifyEventType> = T extends ApifyEventType ? z.output<(typeof apifyEvents)[T]> : never;

/** An Actor run (`resource` of `ACTOR.RUN.*`). */
export type ApifyRun = z.output<typeof apifyRun>;

/** An Actor build (`resource` of `ACTOR.BUILD.*`). */
export type ApifyBuild = z.output<typeof apifyBuild>;
