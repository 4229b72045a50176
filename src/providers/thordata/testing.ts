// Thordata's test builder and samples, exported by `scrapehook/testing` (never by the root entry):
// the documented payload template rendered over a realistic task (see ./index.ts).
import { randomBytes } from 'node:crypto';
import { bytesOf, tokenPlaced, type TemplateDeliveryOptions, type TestDelivery } from '../../testing/delivery.ts';
import { required, sampleType, type ProviderKit } from '../../testing/kit.ts';
import type { ThordataEventType } from './schema.ts';

type Json = Record<string, unknown>;

const TASK_ID = '2e9ddee0582a40a9b1c2d3e4f5a6b7c8';

function thordataBody(eventType: ThordataEventType): Json {
  const ok = eventType === 'ACTOR.RUN.SUCCEEDED';
  return {
    userId: 3406,
    userName: 'Thor84******',
    createdAt: '2026-11-20T06:33:14Z',
    eventType,
    eventData: { prodect_id: '3', apiRunId: TASK_ID },
    resource: {
      taskId: TASK_ID,
      url: JSON.stringify({ spider_errors: true, spider_id: '3', spider_parameters: [{ url: 'https://www.amazon.com/dp/B0DPMHRZ1W' }] }),
      // A stand-in for the account key Thordata echoes; the provider drops it from the payload.
      apiKey: '00000000000000000000000000000000',
      apiUrl: '',
      apiCode: ok ? 200 : 400,
      apiResponseTime: 28000,
      apiErrorMsg: ok ? '' : 'target returned 503',
      apiResult: '',
      errorNumber: ok ? 0 : 26,
      successRate: ok ? 100 : 0,
      runseconds: 30,
      detail: ok ? 'Completed! 26 requests in total: 26 successful, 0 failed' : 'Completed! 26 requests in total: 0 successful, 26 failed',
      flow: 1765,
      fileSize: ok ? 1765 : 0,
      type: 0,
      csvUrl: ok ? `https://files.example.com/scrapers/${TASK_ID}.csv` : '',
      jsonUrl: ok ? `https://files.example.com/scrapers/${TASK_ID}.json` : '',
      audioUrl: '',
      videoUrl: '',
      subtitleUrl: '',
      createdAt: '2026-11-20T14:33:14+08:00',
      finishedAt: '2026-11-20T14:33:44+08:00',
    },
  };
}

/** One realistic body per Thordata event type, as the documented payload template renders it. */
export const thordataSamples: Readonly<Record<ThordataEventType, Json>> = {
  'ACTOR.RUN.SUCCEEDED': thordataBody('ACTOR.RUN.SUCCEEDED'),
  'ACTOR.RUN.FAILED': thordataBody('ACTOR.RUN.FAILED'),
};

/**
 * A Thordata delivery from the documented payload template, with the headers Thordata sets (a
 * fresh `Webhook-Dispatch-Id` per call) and the token where `tokenIn` says.
 *
 * @example
 * ```ts
 * thordataDelivery({ token, type: 'ACTOR.RUN.SUCCEEDED', tokenIn: 'query' })
 * ```
 */
export function thordataDelivery(options: TemplateDeliveryOptions<ThordataEventType>): TestDelivery {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    webhook: 'Tasks',
    'webhook-dispatch-id': randomBytes(16).toString('hex'),
    'request-origin': 'WEBHOOK',
  };
  const path = tokenPlaced(options.path ?? '/webhooks/thordata', options.token, options.tokenIn ?? 'param', headers);
  const body = bytesOf(options.body ?? { ...thordataSamples[options.type ?? 'ACTOR.RUN.SUCCEEDED'], ...options.payload });
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Thordata's builder and samples, for `runEvent` and `scrapehook send` (it documents no timeout or retries). */
export const thordataKit: ProviderKit = {
  name: 'thordata',
  aliases: [],
  samples: thordataSamples,
  defaultType: 'ACTOR.RUN.SUCCEEDED',
  anyType: false,
  credentials: 'token',
  env: { token: 'THORDATA_WEBHOOK_TOKEN' },
  build: (input) =>
    thordataDelivery({
      token: required('thordata', 'token', input.token),
      type: sampleType('thordata', thordataSamples, input.type, 'ACTOR.RUN.SUCCEEDED'),
      tokenIn: input.tokenIn,
      path: input.path,
      body: input.body,
    }),
  senders: {},
  noSender: 'Thordata documents no timeout or retry schedule',
};
