import { context, isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span, type SpanContext, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { Delivery } from '../types.ts';
import type { Answered, AttemptOutcome, Instruments, RunAttempt, TracingSink } from './instruments.ts';
import { instrumentsOf, type MonitoredReceiver } from './receivers.ts';

export type { MonitoredReceiver } from './receivers.ts';

/** Options of {@link openTelemetryTracing}. */
export interface OpenTelemetryTracingOptions {
  /**
   * Where spans go.
   * @default the global tracer provider of `@opentelemetry/api`: a no-op until the app registers
   *   an SDK (`NodeSDK.start()`, `provider.register()`), and that SDK's from then on
   */
  tracerProvider?: TracerProvider;
}

/** The instrumentation scope spans are reported under. */
const SCOPE = 'scrapehook';

/**
 * Traces receivers with OpenTelemetry, through `@opentelemetry/api` only: nothing is recorded
 * unless the app installs an SDK. Each request gets a span `receive <receiver>` (kind SERVER,
 * a child of the active span, such as the HTTP server span of an HTTP instrumentation) and each
 * attempt of a delivery's handlers a span `process <receiver>` (kind CONSUMER, the active span
 * while the handlers run, so that their own spans are its children), in a trace of its own,
 * LINKED to the span that received the delivery. The link crosses the queue: the delivery carries
 * the receiving span's W3C `traceparent` (in memory, in the SQLite store, in the BullMQ job data),
 * so an attempt run by another process links to it as well. Call it in every process that runs
 * the receiver: a web tier (`workers: false`) records the receiving spans, workers the attempts.
 *
 * Attributes are bounded and carry no secret: `scrapehook.receiver`, `scrapehook.provider`,
 * `scrapehook.event_type` (only the provider's own types, else `other`), `scrapehook.delivery_id`,
 * `http.response.status_code`, `scrapehook.outcome`, `error.type` (the error type of a refusal or
 * a failed attempt), `scrapehook.attempt`. Never a URL, a header, a body, a payload or an error
 * message.
 *
 * Needs the optional peer dependency `@opentelemetry/api` (`npm install @opentelemetry/api`).
 *
 * @example
 * ```ts
 * import { openTelemetryTracing } from 'scrapehook/opentelemetry';
 * openTelemetryTracing([firecrawlHooks, apifyHooks]); // spans go to the SDK the app started
 * ```
 * @throws {TypeError} when a receiver was not made by `createReceiver()` or already traced by another provider.
 */
export function openTelemetryTracing(receivers: MonitoredReceiver | readonly MonitoredReceiver[], options: OpenTelemetryTracingOptions = {}): void {
  const provider = options.tracerProvider ?? trace.getTracerProvider();
  if (typeof provider !== 'object' || provider === null || typeof provider.getTracer !== 'function') {
    throw new TypeError(`Expected \`tracerProvider\` to be an OpenTelemetry TracerProvider, got ${provider === null ? 'null' : typeof provider}`);
  }
  const list = Array.isArray(receivers) ? (receivers as readonly MonitoredReceiver[]) : [receivers as MonitoredReceiver];
  const all = list.map((receiver) => instrumentsOf(receiver, 'openTelemetryTracing'));
  let sink = sinks.get(provider);
  if (!sink) sinks.set(provider, (sink = new Tracing(provider.getTracer(SCOPE))));
  for (const instruments of all) {
    if (instruments.tracing !== undefined && instruments.tracing !== sink) {
      throw new TypeError(`Expected receiver ${JSON.stringify(instruments.receiver)} to be traced once: it is traced by another tracer provider`);
    }
  }
  for (const instruments of all) instruments.tracing = sink;
}

const sinks = new WeakMap<TracerProvider, Tracing>();

class Tracing implements TracingSink {
  readonly #tracer: Tracer;

  constructor(tracer: Tracer) {
    this.#tracer = tracer;
  }

  startReceive(instruments: Instruments): Span {
    return this.#tracer.startSpan(`receive ${instruments.receiver}`, { kind: SpanKind.SERVER });
  }

  traceparent(span: unknown): string | undefined {
    return toTraceparent((span as Span).spanContext());
  }

  endReceive(instruments: Instruments, handle: unknown, answered: Answered): void {
    const span = handle as Span;
    // Without an SDK the span records nothing: skip building its attributes.
    if (span.isRecording()) {
      const attributes: Attributes = {
        'scrapehook.receiver': instruments.receiver,
        'scrapehook.provider': instruments.provider.name,
        'http.response.status_code': answered.status,
        'scrapehook.outcome': answered.outcome,
      };
      if (answered.type !== undefined) attributes['scrapehook.event_type'] = instruments.eventType(answered.type);
      if (answered.id !== undefined) attributes['scrapehook.delivery_id'] = answered.id;
      if (answered.code !== undefined) attributes['error.type'] = answered.code;
      span.setAttributes(attributes);
      // As for HTTP server spans: a refusal of the sender's request (4xx) is not an error of the receiver.
      if (answered.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: answered.code });
    }
    span.end();
  }

  startAttempt(instruments: Instruments, delivery: Delivery, attempt: number): Span {
    const received = delivery.traceparent === undefined ? undefined : fromTraceparent(delivery.traceparent);
    const links: Link[] = received === undefined ? [] : [{ context: received }];
    // A root, not a child of whatever is active: an attempt starts from the queue, not from the
    // request that happened to be running when a slot freed up.
    return this.#tracer.startSpan(
      `process ${instruments.receiver}`,
      {
        kind: SpanKind.CONSUMER,
        links,
        attributes: {
          'scrapehook.receiver': instruments.receiver,
          'scrapehook.provider': instruments.provider.name,
          'scrapehook.event_type': instruments.eventType(delivery.type),
          'scrapehook.delivery_id': delivery.id,
          'scrapehook.attempt': attempt,
        },
      },
      ROOT_CONTEXT,
    );
  }

  within(span: unknown, run: RunAttempt, delivery: Delivery, attempt: number, skip: Set<unknown> | undefined, claimed: unknown): Promise<void> {
    return context.with(trace.setSpan(ROOT_CONTEXT, span as Span), run, undefined, delivery, attempt, skip, claimed);
  }

  endAttempt(handle: unknown, outcome: AttemptOutcome, errorType: string | undefined): void {
    const span = handle as Span;
    span.setAttribute('scrapehook.outcome', outcome);
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
    }
    span.end();
  }
}

const INVALID_TRACE = '00000000000000000000000000000000';
const INVALID_SPAN = '0000000000000000';

/** A span context as a W3C `traceparent` (version 00), or `undefined` when it is not valid (no SDK). */
export function toTraceparent(context: SpanContext): string | undefined {
  // The API's no-op spans (no SDK) have the invalid context: nothing to carry.
  if (!isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A W3C `traceparent` as a remote span context, or `undefined` when it is not one. Versions after
 * 00 are read by their first four fields, as the W3C Trace Context spec asks.
 */
export function fromTraceparent(value: string): SpanContext | undefined {
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(value);
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined) || traceId === INVALID_TRACE || spanId === INVALID_SPAN) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
}
