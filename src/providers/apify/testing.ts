// Apify's test builder, samples and sender behaviour, exported by `scrapehook/testing` (never by
// the root entry): the default payload template rendered over a realistic run (see ./index.ts).
import { randomBytes } from 'node:crypto';
import { bytesOf, tokenPlaced, type TemplateDeliveryOptions, type TestDelivery } from '../../testing/delivery.ts';
import { required, sampleType, type ProviderKit } from '../../testing/kit.ts';
import type { ApifyEventType } from './schema.ts';

type Json = Record<string, unknown>;

const apifyRun = {
  id: 'HG7ML7M8z78YcAPEB',
  actId: 'moJRLRc85AitArpNN',
  userId: 'wRsJZtadYvn4mBZmm',
  actorTaskId: null,
  startedAt: '2026-11-20T10:00:00.000Z',
  finishedAt: '2026-11-20T10:04:12.000Z',
  status: 'SUCCEEDED',
  statusMessage: 'Finished! Total 26 requests: 26 succeeded, 0 failed.',
  isStatusMessageTerminal: true,
  meta: { origin: 'API', userAgent: 'ApifyClient/2.9.0' },
  stats: { inputBodyLen: 240, restartCount: 0, durationMillis: 252000, computeUnits: 0.07 },
  options: { build: 'latest', timeoutSecs: 3600, memoryMbytes: 1024, diskMbytes: 2048 },
  buildId: '7sT5jcggjjA9fNcxF',
  buildNumber: '0.2.14',
  exitCode: 0,
  defaultKeyValueStoreId: 'eJNzqsbPiopwJcgGQ',
  defaultDatasetId: 'wmKPijuyDnPZAPRMk',
  defaultRequestQueueId: 'FL35cSF7jrxr3BY39',
  containerUrl: 'https://hg7ml7m8z78y.runs.apify.net',
  usageTotalUsd: 0.021,
};

const RUN_STATUS: Record<string, { status: string; finishedAt: string | null; exitCode: number | null }> = {
  CREATED: { status: 'READY', finishedAt: null, exitCode: null },
  SUCCEEDED: { status: 'SUCCEEDED', finishedAt: apifyRun.finishedAt, exitCode: 0 },
  FAILED: { status: 'FAILED', finishedAt: apifyRun.finishedAt, exitCode: 1 },
  ABORTED: { status: 'ABORTED', finishedAt: apifyRun.finishedAt, exitCode: null },
  TIMED_OUT: { status: 'TIMED-OUT', finishedAt: apifyRun.finishedAt, exitCode: null },
  RESURRECTED: { status: 'RUNNING', finishedAt: null, exitCode: null },
};

function apifyBody(eventType: ApifyEventType): Json {
  const envelope = { userId: 'wRsJZtadYvn4mBZmm', createdAt: '2026-11-20T10:04:12.000Z', eventType };
  if (eventType === 'TEST') return { ...envelope, eventData: null, resource: {} };
  const [, kind, outcome = ''] = eventType.split('.') as [string, string, string];
  const state = RUN_STATUS[outcome] ?? RUN_STATUS.SUCCEEDED!;
  if (kind === 'BUILD') {
    const { exitCode: _exitCode, ...buildState } = state;
    const build = { id: 'Bu1LdZtadYvn4mBZm', actId: apifyRun.actId, userId: apifyRun.userId, startedAt: apifyRun.startedAt, ...buildState, buildNumber: '0.2.15' };
    return { ...envelope, eventData: { actorId: apifyRun.actId, actorBuildId: build.id }, resource: build };
  }
  return { ...envelope, eventData: { actorId: apifyRun.actId, actorRunId: apifyRun.id }, resource: { ...apifyRun, ...state } };
}

/** One realistic body per Apify event type, as the default payload template renders it. */
export const apifySamples: Readonly<Record<ApifyEventType, Json>> = Object.fromEntries(
  (
    [
      'ACTOR.RUN.CREATED',
      'ACTOR.RUN.SUCCEEDED',
      'ACTOR.RUN.FAILED',
      'ACTOR.RUN.ABORTED',
      'ACTOR.RUN.TIMED_OUT',
      'ACTOR.RUN.RESURRECTED',
      'ACTOR.BUILD.CREATED',
      'ACTOR.BUILD.SUCCEEDED',
      'ACTOR.BUILD.FAILED',
      'ACTOR.BUILD.ABORTED',
      'ACTOR.BUILD.TIMED_OUT',
      'TEST',
    ] as const
  ).map((type) => [type, apifyBody(type)]),
) as Record<ApifyEventType, Json>;

/** A 17-character id in Apify's alphabet, like a webhook dispatch id. */
function apifyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(17)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * An Apify delivery from the default payload template, with the headers Apify sets (a fresh
 * `X-Apify-Webhook-Dispatch-Id` per call) and the token where `tokenIn` says.
 *
 * @example
 * ```ts
 * apifyDelivery({ token, type: 'ACTOR.RUN.FAILED', tokenIn: 'header' })
 * ```
 */
export function apifyDelivery(options: TemplateDeliveryOptions<ApifyEventType>): TestDelivery {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-apify-webhook': 'Apify',
    'x-apify-webhook-dispatch-id': apifyId(),
    'x-apify-request-origin': 'WEBHOOK',
  };
  const path = tokenPlaced(options.path ?? '/webhooks/apify', options.token, options.tokenIn ?? 'param', headers);
  const body = bytesOf(options.body ?? { ...apifySamples[options.type ?? 'ACTOR.RUN.SUCCEEDED'], ...options.payload });
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Apify's builder, samples and documented timeout and retries, for `runEvent` and `scrapehook send`. */
export const apifyKit: ProviderKit = {
  name: 'apify',
  aliases: [],
  samples: apifySamples,
  defaultType: 'ACTOR.RUN.SUCCEEDED',
  anyType: false,
  credentials: 'token',
  env: { token: 'APIFY_WEBHOOK_TOKEN' },
  build: (input) =>
    apifyDelivery({
      token: required('apify', 'token', input.token),
      type: sampleType('apify', apifySamples, input.type, 'ACTOR.RUN.SUCCEEDED'),
      tokenIn: input.tokenIn,
      path: input.path,
      body: input.body,
    }),
  senders: {
    apify: {
      label: 'Apify',
      timeoutMs: 2 * 60_000,
      // 1, 2, 4, ... 1024 minutes: 11 retries, the last about 34 h after the first attempt.
      retryDelaysMs: Array.from({ length: 11 }, (_, i) => 2 ** i * 60_000),
      note: 'unconfirmed: Apify says exponential up to ~32 h; doubling is our reading',
      source:
        'Apify docs (webhooks/actions): a 2xx within 2 minutes (30 s before July 2026), else retries with exponential backoff ' +
        'from about 1 minute up to an 11th retry about 32 h later. The exact delays are not published: doubling from 1 minute is our reading, ' +
        'and puts the 11th retry about 34 h after the first attempt.',
    },
  },
};
