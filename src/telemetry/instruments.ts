import { WebhookError } from '../errors.ts';
import type { AnyProvider, Delivery } from '../types.ts';

/**
 * The one seam between the receiving and running code and telemetry (Prometheus metrics,
 * OpenTelemetry traces). A receiver makes one {@link Instruments}; `prometheusMetrics()` and
 * `openTelemetryTracing()` attach their sinks to it later. Until one does, every method returns at
 * once without allocating: nothing is timed, no span is made, a delivery carries no trace.
 *
 * The call sites (each one line):
 * - request pipeline: `request()` when a request arrives, `accepting()` when its delivery is about
 *   to be enqueued, `answered()` for each answer (202, 200 duplicate, and every refusal);
 * - queue runtime: `attempt(run, delivery, attempt, skip)` around each run of the handlers;
 * - `importRows` (through the receiver's import tracker): `imported()` per batch written.
 * Counters and gauges are not pushed here: metrics read them from `receiver.stats()` when scraped.
 */
export class Instruments {
  /** The receiver's name. */
  readonly receiver: string;
  readonly provider: AnyProvider;
  #metrics: MetricsSink | undefined;
  #tracing: TracingSink | undefined;
  /** Whether any sink is attached: the only thing the hot path reads when none is. */
  #on = false;
  /** Rows and bytes written by `importRows` since start, per source provider. */
  readonly #imports = new Map<string, { rows: number; bytes: number }>();

  constructor(receiver: string, provider: AnyProvider) {
    this.receiver = receiver;
    this.provider = provider;
  }

  /** Attaches the metrics sink; a receiver has at most one. */
  set metrics(sink: MetricsSink | undefined) {
    this.#metrics = sink;
    this.#on = this.#metrics !== undefined || this.#tracing !== undefined;
  }

  get metrics(): MetricsSink | undefined {
    return this.#metrics;
  }

  /** Attaches the tracing sink; a receiver has at most one. */
  set tracing(sink: TracingSink | undefined) {
    this.#tracing = sink;
    this.#on = this.#metrics !== undefined || this.#tracing !== undefined;
  }

  get tracing(): TracingSink | undefined {
    return this.#tracing;
  }

  /** An event type as a label: one of the provider's own types, else `other` (senders may invent types). */
  eventType(type: string): string {
    return Object.hasOwn(this.provider.events, type) ? type : 'other';
  }

  /** A request arrived. Answers what its answer needs, or `undefined` when nothing records. */
  request(): RequestMark | undefined {
    if (!this.#on) return undefined;
    return { start: performance.now(), span: this.#tracing?.startReceive(this), type: undefined, id: undefined };
  }

  /**
   * The request's delivery is about to be enqueued: it carries the receiving span's W3C trace
   * context (`traceparent`), so that the span of each handler attempt, wherever it runs, links to it.
   */
  accepting(mark: RequestMark | undefined, delivery: Delivery): void {
    if (mark === undefined) return;
    mark.type = delivery.type;
    mark.id = delivery.id;
    if (mark.span === undefined) return;
    const traceparent = this.#tracing?.traceparent(mark.span);
    if (traceparent !== undefined) (delivery as { traceparent?: string }).traceparent = traceparent;
  }

  /**
   * A request was answered: `code` is the error type of a refusal, `undefined` for 202 (accepted)
   * and 200 (duplicate). `mark` is `undefined` for a request refused before the pipeline ran (a
   * framework refused its body): its span starts now, and its ack time is not observed.
   */
  answered(mark: RequestMark | undefined, status: number, code: string | undefined): void {
    if (!this.#on) return;
    const outcome: RequestOutcome = code !== undefined ? 'rejected' : status === 200 ? 'duplicate' : 'accepted';
    // Not timed when it was refused before the pipeline started (no mark): its time is unknown.
    if (mark !== undefined) this.#metrics?.answered(this, outcome, (performance.now() - mark.start) / 1000);
    const tracing = this.#tracing;
    if (tracing === undefined) return;
    const span = mark?.span ?? tracing.startReceive(this);
    tracing.endReceive(this, span, { status, code, outcome, type: mark?.type, id: mark?.id });
  }

  /**
   * Runs one attempt of a delivery's handlers (`run` with the other arguments), timed, inside the
   * attempt's span when tracing. Without sinks, it is `run(delivery, attempt, skip)`.
   */
  attempt(run: RunAttempt, delivery: Delivery, attempt: number, skip?: Set<unknown>, claimed?: unknown): Promise<void> {
    if (!this.#on) return run(delivery, attempt, skip, claimed);
    const start = performance.now();
    const tracing = this.#tracing;
    const span = tracing?.startAttempt(this, delivery, attempt);
    let pending: Promise<void>;
    try {
      pending = span === undefined ? run(delivery, attempt, skip, claimed) : tracing!.within(span, run, delivery, attempt, skip, claimed);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      () => this.#attempted(delivery, start, span, undefined),
      (error: unknown) => {
        this.#attempted(delivery, start, span, error);
        throw error;
      },
    );
  }

  #attempted(delivery: Delivery, start: number, span: unknown, error: unknown): void {
    const outcome: AttemptOutcome = error === undefined ? 'succeeded' : 'failed';
    this.#metrics?.attempted(this, this.eventType(delivery.type), outcome, (performance.now() - start) / 1000);
    if (span !== undefined) this.#tracing?.endAttempt(span, outcome, error === undefined ? undefined : errorType(error));
  }

  /** `importRows` wrote a batch of rows read from `source` (a provider's name). */
  imported(source: string, rows: number, bytes: number): void {
    let total = this.#imports.get(source);
    if (total === undefined) this.#imports.set(source, (total = { rows: 0, bytes: 0 }));
    total.rows += rows;
    total.bytes += bytes;
  }

  /** Rows and bytes imported since start, per source provider. */
  importTotals(): ReadonlyMap<string, { readonly rows: number; readonly bytes: number }> {
    return this.#imports;
  }
}

/** Runs one attempt of a delivery's handlers (the queue runtime's `run`). */
export type RunAttempt = (delivery: Delivery, attempt: number, skip?: Set<unknown>, claimed?: unknown) => Promise<void>;

/** What a request carries from its arrival to its answer, when something records it. */
export interface RequestMark {
  /** When it arrived, on `performance.now()`'s clock. */
  readonly start: number;
  /** The receiving span, when tracing (opaque here). */
  readonly span: unknown;
  /** The event type and delivery id, once the delivery is about to be enqueued. */
  type: string | undefined;
  id: string | undefined;
}

/** How a request was answered: 202, 200 duplicate, or any refusal. */
export type RequestOutcome = 'accepted' | 'duplicate' | 'rejected';

/** How one attempt of a delivery's handlers ended. */
export type AttemptOutcome = 'succeeded' | 'failed';

/** What a request's answer tells a tracing sink. */
export interface Answered {
  readonly status: number;
  readonly code: string | undefined;
  readonly outcome: RequestOutcome;
  readonly type: string | undefined;
  readonly id: string | undefined;
}

/** Where metrics go (histograms only: counters and gauges are read from `stats()` when scraped). */
export interface MetricsSink {
  answered(instruments: Instruments, outcome: RequestOutcome, seconds: number): void;
  attempted(instruments: Instruments, eventType: string, outcome: AttemptOutcome, seconds: number): void;
}

/** Where spans go. Spans are opaque here, so that this module needs no tracing library. */
export interface TracingSink {
  startReceive(instruments: Instruments): unknown;
  /** The span's W3C `traceparent`, or `undefined` when it has no valid context (no SDK). */
  traceparent(span: unknown): string | undefined;
  endReceive(instruments: Instruments, span: unknown, answered: Answered): void;
  startAttempt(instruments: Instruments, delivery: Delivery, attempt: number): unknown;
  /** Runs `run` with the span as the active span, so that the handlers' own spans are its children. */
  within(span: unknown, run: RunAttempt, delivery: Delivery, attempt: number, skip: Set<unknown> | undefined, claimed: unknown): Promise<void>;
  endAttempt(span: unknown, outcome: AttemptOutcome, errorType: string | undefined): void;
}

/**
 * `to`, with the W3C trace context `from` carries (if any): a delivery rebuilt from what a store or
 * Redis kept keeps the link to the span that received it.
 */
export function withTrace(from: Delivery, to: Delivery): Delivery {
  return from.traceparent === undefined ? to : { ...to, traceparent: from.traceparent };
}

/** The error type of a failed attempt: a `WebhookError`'s (`handler.failed`, `handler.timeout`...). */
function errorType(error: unknown): string {
  return error instanceof WebhookError ? error.type : 'handler.failed';
}
