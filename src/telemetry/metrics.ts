import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { BreakerState } from '../engine/circuit-breaker.js';
import { PROFILE_FIELDS } from '../profiles/schemas.js';
import { RUN_GAUGES, type RunRecord } from './run-gauges.js';

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface MetricsSources {
  queueDepth?: () => number;
  breakerState?: () => BreakerState;
}

const KNOWN_FIELDS = new Set(PROFILE_FIELDS);
const VALID = { result: 'valid' } as const;
const INVALID = { result: 'invalid' } as const;

/** Where each record a push reads ends: exactly one of these (the `--json` summary's keys). */
export const RECORD_OUTCOMES = ['invalid', 'duplicates', 'unchanged', 'delivered', 'rejected', 'failed'] as const;
export type RecordOutcome = (typeof RECORD_OUTCOMES)[number];

/**
 * How a one-shot run ended, into `registry`: the gauges cron's alerts read. Also written alone
 * when the run never started (see exit-metrics.ts), so they live outside SyncMetrics.
 */
export function recordRun(registry: Registry, command: string, run: RunRecord): void {
  for (const { name, help, value } of RUN_GAUGES) new Gauge({ name, help, labelNames: ['command'] as const, registers: [registry] }).set({ command }, value(run));
}

/**
 * Which commands a family belongs to. serve's /metrics shows every family it has; a pull's or a
 * push's metrics file only its own command's: a pull listing batch sizes and submissions at zero
 * reads as a push that sent nothing. Families a run adds itself (pull's, the run gauges) are its own.
 */
const EVERY_COMMAND = ['pull', 'push', 'serve'] as const;
const DELIVERING = ['push', 'serve'] as const;
const SERVE = ['serve'] as const;

/** `email`, `metadata.tags.3` → the known top-level field; `''` (the record itself) → `record`; anything else → `other`. */
export function fieldLabel(path: string): string {
  const top = path.split(/[.,]/)[0]!;
  if (top === '') return 'record';
  return KNOWN_FIELDS.has(top) ? top : 'other';
}

type Labels = Readonly<Record<string, string>>;

/**
 * One series of a counter, counted as a plain number and handed to prom-client (`inc` with the
 * total) when its family is read: a scrape, a metrics file, `get()`. serve counts an outcome and a
 * validation per answer; prom-client's `inc` per answer (a key built from the label object, label
 * checks, a lookup) was ~1.5% of its CPU under wrk (issue 19). What /metrics shows is the same.
 */
export class CountedSeries {
  private pending = 0;

  constructor(
    private readonly counter: Counter<string>,
    readonly labels: Labels,
  ) {}

  inc(by = 1): void {
    this.pending += by;
  }

  /** Hands what was counted since the last read to prom-client (a series still at 0 is not created). */
  flush(): void {
    if (this.pending === 0) return;
    const by = this.pending;
    this.pending = 0;
    this.counter.inc(this.labels, by);
  }
}

/**
 * A histogram prom-client formats but we count: per series an array of bucket counts, a sum and a
 * count, for a value observed once per answer (serve's caller wait). prom-client's `observe` made a
 * closure, a label check and a key string per call (~1.4% of serve's CPU under wrk, issue 19). Its
 * text on /metrics is prom-client's own for the same observations: `_bucket{le="…",label="…"}`
 * cumulative, `+Inf`, `_sum` (added in the same order), `_count`.
 */
export class CountedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly label: string;
  private readonly buckets: readonly number[];
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(config: { name: string; help: string; labelName: string; buckets: readonly number[]; registers: Registry[] }) {
    ({ name: this.name, help: this.help, labelName: this.label, buckets: this.buckets } = config);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(labels: Labels, value: number): void {
    const key = labels[this.label]!;
    let series = this.series.get(key);
    // One count per bound, and a last one for values over every bound (only in +Inf, which is the count).
    if (!series) this.series.set(key, (series = { labels: { [this.label]: key }, counts: [...this.buckets.map(() => 0), 0], sum: 0, count: 0 }));
    const { buckets } = this;
    let bucket = 0;
    while (bucket < buckets.length && value > buckets[bucket]!) bucket += 1;
    series.counts[bucket]! += 1;
    series.sum += value;
    series.count += 1;
  }

  /** As prom-client's Histogram `get()` returns it (what the registry formats). */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      for (const [i, bound] of this.buckets.entries()) {
        cumulative += counts[i]!;
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...labels }, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series = new Map();
  }
}

/**
 * Every metric the tool exports, in one registry per process (not prom-client's global one, so
 * tests and one-shot runs do not share state). `serve` exposes it on /metrics; pull and push write
 * their own command's part of it to `--metrics-file` with the same names.
 */
export class SyncMetrics {
  readonly registry = new Registry();
  /** Family name → the commands it belongs to (see DELIVERING). */
  private readonly owners = new Map<string, readonly string[]>();

  /** Series counted as numbers (see CountedSeries), by family, then by their label values. */
  private readonly counted = new Map<Counter<string>, Map<string, CountedSeries>>();

  readonly submissions = new Counter(
    this.own(DELIVERING, {
      name: 'sync_submissions_total',
      help: 'Profiles by final outcome (delivered, rejected, failed, duplicate, invalid) and error class',
      labelNames: ['outcome', 'error_class'] as const,
      collect: this.flusher(),
    }),
  );
  readonly validated = new Counter(
    this.own(DELIVERING, {
      name: 'sync_profiles_validated_total',
      help: 'Profiles validated, by result',
      labelNames: ['result'] as const,
      collect: this.flusher(),
    }),
  );
  private readonly validSeries = this.series(this.validated, VALID);
  private readonly invalidSeries = this.series(this.validated, INVALID);
  readonly fieldErrors = new Counter(
    this.own(DELIVERING, {
      name: 'sync_profile_field_errors_total',
      help: 'Validation errors by top-level field',
      labelNames: ['field'] as const,
    }),
  );
  readonly batchSize = new Histogram(
    this.own(DELIVERING, {
      name: 'sync_batch_size',
      help: 'Profiles per batch sent downstream',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000],
    }),
  );
  readonly downstreamRequests = new Counter(
    this.own(DELIVERING, {
      name: 'sync_downstream_requests_total',
      help: 'Requests to the remote side by HTTP status (or error code)',
      labelNames: ['status'] as const,
    }),
  );
  readonly downstreamDuration = new Histogram(
    this.own(DELIVERING, {
      name: 'sync_downstream_request_duration_seconds',
      help: 'Duration of one request to the remote side',
      labelNames: ['status'] as const,
      buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    }),
  );
  readonly retries = new Counter(
    this.own(EVERY_COMMAND, {
      name: 'sync_retries_total',
      help: 'Retries by kind (transient, rate-limited)',
      labelNames: ['kind'] as const,
    }),
  );
  readonly rateLimited = new Counter(
    this.own(EVERY_COMMAND, {
      name: 'sync_rate_limited_total',
      help: '429 answers from the remote side',
    }),
  );
  readonly callerWait = new CountedHistogram(
    this.own(SERVE, {
      name: 'sync_caller_wait_seconds',
      help: 'serve: time a caller waited for its answer, by HTTP status',
      labelName: 'status',
      // Fine between 200 and 600 ms: one rate slot plus the platform's latency is where waits cluster.
      buckets: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.75, 1, 2, 5, 10],
    }),
  );

  constructor(sources: MetricsSources = {}) {
    const fieldErrors = this.fieldErrors;
    const validated = this.validated;
    new Gauge({
      ...this.own(DELIVERING, { name: 'sync_invalid_email_ratio', help: 'Share of validated profiles whose email was invalid' }),
      async collect() {
        const [errors, totals] = await Promise.all([fieldErrors.get(), validated.get()]);
        const email = errors.values.find((v) => v.labels.field === 'email')?.value ?? 0;
        const total = totals.values.reduce((sum, v) => sum + v.value, 0);
        this.set(total === 0 ? 0 : email / total);
      },
    });
    if (sources.queueDepth) {
      const depth = sources.queueDepth;
      new Gauge({
        ...this.own(SERVE, { name: 'sync_queue_depth', help: 'Profiles waiting for a rate slot' }),
        collect() {
          this.set(depth());
        },
      });
    }
    if (sources.breakerState) {
      const state = sources.breakerState;
      new Gauge({
        ...this.own(SERVE, { name: 'sync_breaker_state', help: 'Downstream circuit breaker: 0 closed, 1 half-open, 2 open' }),
        collect() {
          this.set(BREAKER_VALUE[state()]);
        },
      });
    }
  }

  /**
   * Record one validation result; field errors are counted by their top-level field. The label
   * comes from a fixed set: an unknown key is the caller's text, and as a label value it would let
   * any caller grow /metrics (and memory) without bound.
   */
  recordValidation(errors: readonly { path: string }[] | undefined): void {
    // Once per profile a server answers: the valid case allocates nothing (issue 19).
    if (!errors) return this.validSeries.inc();
    this.invalidSeries.inc();
    for (const field of new Set(errors.map((error) => fieldLabel(error.path)))) {
      this.fieldErrors.inc({ field });
    }
  }

  /**
   * One-shot runs (cron): when the run ended, how long it took, how it exited. From here on the
   * registry holds only `command`'s families: the metrics file says what this run is about.
   */
  recordRun(command: string, run: RunRecord): void {
    for (const [name, commands] of this.owners) if (!commands.includes(command)) this.registry.removeSingleMetric(name);
    recordRun(this.registry, command, run);
  }

  /**
   * One-shot push runs: the summary's counts, one series per outcome. The outcomes partition the
   * records read, so an alert can take a share (`sum without (outcome)` is the total) and fire on
   * many refusals, not on every run that had one bad row.
   */
  recordRecords(command: string, counts: Readonly<Record<RecordOutcome, number>>): void {
    const gauge = new Gauge({
      name: 'sync_run_records',
      help: 'Records of the last run by outcome (invalid, duplicates, unchanged, delivered, rejected, failed); they add up to the records read',
      labelNames: ['command', 'outcome'] as const,
      registers: [this.registry],
    });
    for (const outcome of RECORD_OUTCOMES) gauge.set({ command, outcome }, counts[outcome]);
  }

  /**
   * The series of `counter` with these label values, counted as a number until the family is read
   * (made once per label set: keep it, or look it up here, rather than build labels per count).
   */
  series(counter: Counter<string>, labels: Labels): CountedSeries {
    let family = this.counted.get(counter);
    if (!family) this.counted.set(counter, (family = new Map()));
    const key = Object.values(labels).join('\0');
    let series = family.get(key);
    if (!series) family.set(key, (series = new CountedSeries(counter, labels)));
    return series;
  }

  /** A counter's `collect`: what its series counted goes to prom-client before it is read. */
  private flusher(): (this: Counter<string>) => void {
    const counted = this.counted;
    return function flush(this: Counter<string>) {
      for (const series of counted.get(this)?.values() ?? []) series.flush();
    };
  }

  /** A shared family's configuration, registered here and noted as belonging to `commands`. */
  private own<C extends { name: string }>(commands: readonly string[], config: C): C & { registers: Registry[] } {
    this.owners.set(config.name, commands);
    return { ...config, registers: [this.registry] };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
