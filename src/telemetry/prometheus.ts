import { Counter, Gauge, Histogram, register, type Registry } from 'prom-client';
import { STATUS, type WebhookErrorType } from '../errors.ts';
import type { ReceiverStats } from '../types.ts';
import type { AttemptOutcome, Instruments, MetricsSink, RequestOutcome } from './instruments.ts';
import { instrumentsOf, type MonitoredReceiver } from './receivers.ts';

export type { MonitoredReceiver } from './receivers.ts';

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /**
   * The prom-client registry to register the metrics on: your app's, so that its `/metrics`
   * endpoint shows them beside the others.
   * @default prom-client's default registry, `register`
   * @example registry: new Registry()
   */
  registry?: Registry;
  /**
   * The start of every metric name.
   * @default 'scrapehook_'
   */
  prefix?: string;
}

/** Buckets of the ack latency histogram, in seconds: an answer takes well under 10 ms unless the queue backend is slow. */
const ACK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets of the handler duration histogram, in seconds, up to the default handler timeout (60 s) and past it. */
const HANDLER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Exposes receivers' metrics on a prom-client registry, in one line. Counters and gauges are read
 * from each receiver's `stats()` when the registry is scraped (nothing is counted twice, and the
 * dead letters gauge is what the store or Redis keeps, so it is right after a restart); the two
 * histograms (ack latency, handler duration) are observed as requests are answered and handlers run.
 * Calling it again with more receivers and the same registry adds them to the same metrics.
 *
 * Labels are bounded: `receiver` and `provider` (names you chose), `event_type` (only the
 * provider's own event types; any other is `other`), `code` and `status` (the error type and
 * HTTP status of a refusal), `outcome`, `source` (the provider an import reads). Never ids, URLs
 * or tokens. The metrics are listed in the README ("Monitoring").
 *
 * Needs the optional peer dependency `prom-client` (`npm install prom-client`).
 *
 * @example
 * ```ts
 * import { register } from 'prom-client';
 * import { prometheusMetrics } from 'scrapehook/prometheus';
 * prometheusMetrics([firecrawlHooks, apifyHooks], { registry: register });
 * app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()));
 * ```
 * @returns the registry the metrics are on.
 * @throws {TypeError} when a receiver was not made by `createReceiver()`, already has metrics on
 *   another registry or prefix, or an option is of the wrong type.
 */
export function prometheusMetrics(receivers: MonitoredReceiver | readonly MonitoredReceiver[], options: PrometheusMetricsOptions = {}): Registry {
  const registry = options.registry ?? register;
  if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function') {
    throw new TypeError(`Expected \`registry\` to be a prom-client Registry, got ${registry === null ? 'null' : typeof registry}`);
  }
  const prefix = options.prefix ?? 'scrapehook_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new TypeError(`Expected \`prefix\` to be the start of a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${JSON.stringify(prefix)}`);
  }
  const list = Array.isArray(receivers) ? (receivers as readonly MonitoredReceiver[]) : [receivers as MonitoredReceiver];
  const all = list.map((receiver) => ({ receiver, instruments: instrumentsOf(receiver, 'prometheusMetrics') }));
  const metrics = metricsOn(registry, prefix);
  for (const { instruments } of all) {
    if (instruments.metrics !== undefined && instruments.metrics !== metrics) {
      throw new TypeError(`Expected receiver ${JSON.stringify(instruments.receiver)} to have no metrics yet: it has some on another registry or prefix`);
    }
  }
  for (const { receiver, instruments } of all) metrics.add(instruments, () => receiver.stats());
  return registry;
}

/** The metrics of one registry and prefix, made once, for every receiver exposed on it. */
const made = new WeakMap<Registry, Map<string, ReceiverMetrics>>();

function metricsOn(registry: Registry, prefix: string): ReceiverMetrics {
  let byPrefix = made.get(registry);
  if (!byPrefix) made.set(registry, (byPrefix = new Map()));
  const existing = byPrefix.get(prefix);
  // Still registered (registry.clear() drops them): reuse, so that a second call adds receivers.
  if (existing && registry.getSingleMetric(`${prefix}deliveries_received_total`) !== undefined) return existing;
  const metrics = new ReceiverMetrics(registry, prefix);
  byPrefix.set(prefix, metrics);
  return metrics;
}

type Labels = Record<string, string>;

class ReceiverMetrics implements MetricsSink {
  readonly #receivers = new Set<Instruments>();
  readonly #ack: Histogram<string>;
  readonly #handler: Histogram<string>;
  /** Label sets of the ack histogram, per receiver and outcome: made once, not per request. */
  readonly #ackLabels = new WeakMap<Instruments, Record<RequestOutcome, Labels>>();
  /** Each receiver's `stats()`. */
  readonly #stats = new WeakMap<Instruments, () => ReceiverStats>();

  constructor(registry: Registry, prefix: string) {
    const registers = [registry];
    const receivers = this.#receivers;
    const base = (i: Instruments): Labels => ({ receiver: i.receiver, provider: i.provider.name });
    /** A counter or gauge whose values are read from each receiver when scraped. */
    const collected = <M extends Counter<string> | Gauge<string>>(
      Kind: new (config: { name: string; help: string; labelNames: string[]; registers: Registry[]; collect(this: M): void }) => M,
      name: string,
      help: string,
      labelNames: string[],
      read: (stats: ReceiverStats, instruments: Instruments, add: (labels: Labels, value: number) => void) => void,
    ): M =>
      new Kind({
        name: prefix + name,
        help,
        labelNames,
        registers,
        collect(this: M) {
          this.reset();
          // Added, not set: two receivers with the same labels (same name in two stores) sum up.
          const add = (labels: Labels, value: number) => (this as Counter<string>).inc(labels, value);
          for (const instruments of receivers) read(statsOf(instruments), instruments, add);
        },
      });
    const statsOf = (i: Instruments): ReceiverStats => this.#stats.get(i)!();
    const counter = (name: string, help: string, field: 'received' | 'accepted' | 'duplicates' | 'succeeded' | 'retried') =>
      collected(Counter, name, help, ['receiver', 'provider'], (stats, i, add) => add(base(i), stats[field]));
    const gauge = (name: string, help: string, field: 'queued' | 'running' | 'dead') =>
      collected(Gauge, name, help, ['receiver', 'provider'], (stats, i, add) => add(base(i), stats[field]));

    counter('deliveries_received_total', 'Requests that reached the receiver, whatever their answer.', 'received');
    counter('deliveries_accepted_total', 'Deliveries acknowledged (202) and queued.', 'accepted');
    counter('deliveries_duplicates_total', 'Deliveries answered 200 as duplicates of one already accepted, not run again.', 'duplicates');
    collected(Counter, 'deliveries_rejected_total', 'Requests refused, by error type (code) and HTTP status.', ['receiver', 'provider', 'code', 'status'], (stats, i, add) => {
      for (const [code, count] of Object.entries(stats.rejected)) {
        add({ ...base(i), code, status: String(STATUS[code as WebhookErrorType] ?? 500) }, count ?? 0);
      }
    });
    counter('deliveries_succeeded_total', 'Deliveries whose handlers all succeeded.', 'succeeded');
    counter('retries_total', 'Failed handler attempts scheduled to run again.', 'retried');
    gauge('deliveries_queued', 'Deliveries waiting to run, retries included (with BullMQ: in Redis, read every countsIntervalMs).', 'queued');
    gauge('deliveries_running', 'Deliveries whose handlers are running in this process.', 'running');
    gauge('dead_letters', 'Dead letters kept by the store or Redis (deliveries that failed for good), restarts included.', 'dead');
    const imports = (name: string, help: string, field: 'rows' | 'bytes') =>
      collected(Counter, name, help, ['receiver', 'source'], (_stats, i, add) => {
        for (const [source, total] of i.importTotals()) add({ receiver: i.receiver, source }, total[field]);
      });
    imports('import_rows_total', 'Rows written by importRows handlers, by the provider they were read from.', 'rows');
    imports('import_bytes_total', "Bytes of the provider's responses read for the rows written by importRows handlers.", 'bytes');

    this.#ack = new Histogram({
      name: `${prefix}ack_duration_seconds`,
      help: 'Time from a request reaching the receiver to its answer (202, 200 duplicate or a refusal), in seconds.',
      labelNames: ['receiver', 'provider', 'outcome'],
      buckets: ACK_BUCKETS,
      registers,
    });
    this.#handler = new Histogram({
      name: `${prefix}handler_duration_seconds`,
      help: "Time one attempt of a delivery's handlers took, in seconds, by event type and outcome (succeeded, failed).",
      labelNames: ['receiver', 'provider', 'event_type', 'outcome'],
      buckets: HANDLER_BUCKETS,
      registers,
    });
  }

  add(instruments: Instruments, stats: () => ReceiverStats): void {
    if (this.#receivers.has(instruments)) return;
    const labels = (outcome: RequestOutcome): Labels => ({ receiver: instruments.receiver, provider: instruments.provider.name, outcome });
    this.#ackLabels.set(instruments, { accepted: labels('accepted'), duplicate: labels('duplicate'), rejected: labels('rejected') });
    this.#stats.set(instruments, stats);
    this.#receivers.add(instruments);
    instruments.metrics = this;
  }

  answered(instruments: Instruments, outcome: RequestOutcome, seconds: number): void {
    this.#ack.observe(this.#ackLabels.get(instruments)![outcome], seconds);
  }

  attempted(instruments: Instruments, eventType: string, outcome: AttemptOutcome, seconds: number): void {
    this.#handler.observe({ receiver: instruments.receiver, provider: instruments.provider.name, event_type: eventType, outcome }, seconds);
  }
}
