import type { AxiosInstance } from 'axios';
import { SourceChangedError, UnavailableError, toSyncError, type SyncError } from '../errors.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { Executor } from '../engine/executor.js';
import { seededRandom, type Random } from '../engine/random.js';
import type { Limiter } from '../engine/limiter.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import { RetryPolicy } from '../engine/retry-policy.js';
import { FaultInjector } from '../http/fault-injector.js';
import type { Logger } from '../logging/logger.js';
import { logRetry } from '../logging/retry-log.js';
import type { SyncMetrics } from '../telemetry/metrics.js';
import type { Progress } from '../ui/terminal.js';
import { CustomerAPIClient, type FetchAllResult } from './customer-api-client.js';
import { checkListing } from './listing-check.js';
import { CustomerDataProcessor } from './customer-data-processor.js';
import { recordPull } from './pull-metrics.js';
import { DataExporter } from './data-exporter.js';
import { profilesText, toProfiles } from './pulled-profiles.js';
import { writeOutputs, type Output } from '../io/write-outputs.js';
import { RawUserSchema, type QualitySummary, type RawUser, type ReqresPage } from './schemas.js';
import { count } from '../ui/count.js';

export interface PullOptions {
  baseUrl: string;
  apiKey: string;
  out: string;
  maxRetries: number;
  /** --retry-for (ms): instead of --max-retries, retry a failing page until this long after its first failure. */
  retryForMs?: number;
  rate: number;
  concurrency: number;
  faultRate: number;
  seed: number;
  allowPartial: boolean;
  /** Refuse a source that announces more pages than this (a broken or hostile `total_pages`). */
  maxPages: number;
  /** --profiles: also write each customer with a valid address as a push-ready profile (`-` = stdout). */
  profiles?: string;
}

export interface PullDependencies {
  logger: Logger;
  clock?: Clock;
  /** Backoff jitter; Math.random in production so clients spread apart. */
  jitter?: Random;
  signal?: AbortSignal;
  progress?: Progress;
  http?: AxiosInstance;
  timeoutMs?: number;
  metrics?: SyncMetrics;
  /** A shared quota (quota/open-quota.ts); default: an in-process limiter with PULL_PACING. */
  limiter?: Limiter;
}

/** Pull may burst up to --rate at once (the source counts per second; there is no batch to build). */
export const PULL_PACING = { smooth: false, marginMs: 0, leadMs: 0 } as const;

/**
 * The `--json` summary; the spec's keys, plus `skipped`. Each count means one thing:
 * fetched = records received on the pages fetched (also when the run then fails);
 * exported = fetched − skipped − duplicatesRemoved when the export was written, else 0.
 */
export interface PullSummary {
  /** Pages fetched (the source's page count is `metadata.total_pages` in the export). */
  pages: number;
  requests: number;
  retries: number;
  rateLimited: number;
  fetched: number;
  /** Records without a usable id: they cannot be deduplicated or enriched (logged with page and position). */
  skipped: number;
  duplicatesRemoved: number;
  exported: number;
  qualitySummary: QualitySummary;
  /** The file written, or null when nothing was (the previous export is left as it was). */
  out: string | null;
  durationMs: number;
}

/** What `--profiles` wrote. Not in the summary, whose keys are the contract's: in the export's metadata and the log. */
export interface ProfilesWritten {
  path: string;
  written: number;
  /** Customers left out: no valid address (ids in the log). */
  withoutEmail: number;
}

export interface PullOutcome {
  summary: PullSummary;
  /** Set when `--profiles` was given and the profiles were written (with the export). */
  profiles?: ProfilesWritten;
  /** Set when the run did not export everything; its exitCode is the run's. */
  error?: SyncError;
}

/** fetch → transform → export. Never throws: failures come back in the outcome with what was done. */
export async function runPull(options: PullOptions, deps: PullDependencies): Promise<PullOutcome> {
  const clock = deps.clock ?? systemClock;
  const { logger, signal, progress } = deps;
  const started = clock.now();
  const executor = new Executor({
    clock,
    limiter: deps.limiter ?? RateLimiter.perSecond(options.rate, clock, PULL_PACING),
    policy: new RetryPolicy({ maxRetries: options.maxRetries, retryForMs: options.retryForMs, random: deps.jitter ?? Math.random }),
  });
  const client = new CustomerAPIClient({
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    executor,
    http: deps.http,
    timeoutMs: deps.timeoutMs,
    faults: options.faultRate > 0 ? new FaultInjector(options.faultRate, seededRandom(options.seed)) : undefined,
    onRetry: (page, event) => {
      deps.metrics?.retries.inc({ kind: event.kind });
      logRetry(logger, 'fetch', { page }, event);
    },
    onWarning: (page, message) => logger.warn({ stage: 'fetch', page }, message),
  });
  const summary: PullSummary = {
    pages: 0,
    requests: 0,
    retries: 0,
    rateLimited: 0,
    fetched: 0,
    skipped: 0,
    duplicatesRemoved: 0,
    exported: 0,
    qualitySummary: { high_quality: 0, medium_quality: 0, low_quality: 0 },
    out: null,
    durationMs: 0,
  };
  const finish = (error?: SyncError): PullOutcome => {
    Object.assign(summary, executor.stats, { durationMs: Math.round(clock.now() - started) });
    if (deps.metrics) recordPull(deps.metrics, summary);
    return error ? { summary, error } : { summary };
  };

  try {
    logger.info({ stage: 'fetch', source: options.baseUrl }, 'fetching customers');
    const fetched = await client.fetchAllPages({
      concurrency: options.concurrency,
      maxPages: options.maxPages,
      failFast: !options.allowPartial,
      signal,
      onPage: (page, total, records) => {
        logger.debug({ stage: 'fetch', page }, `page ${page}/${total} fetched`);
        summary.pages += 1;
        summary.fetched += records;
        progress?.update(`Fetching pages: ${summary.pages}/${total}`);
      },
    });
    const raws = collectUsers(fetched.pages, logger);
    summary.skipped = summary.fetched - raws.length;
    const { failure, incomplete } = await completeness(fetched, options.allowPartial, (page) => client.fetchPage(page, signal), logger);
    if (failure && !options.allowPartial) {
      logger.error({ stage: 'export', out: options.out }, 'export not written; the previous file is untouched');
      return finish(failure);
    }

    const processor = new CustomerDataProcessor({ seed: options.seed, now: clock.now() });
    const { records, customers, duplicatesRemoved } = processor.process(raws);
    summary.duplicatesRemoved = duplicatesRemoved;
    logger.info({ stage: 'transform', fetched: raws.length, duplicatesRemoved, customers: customers.length }, 'customers enriched and deduplicated');

    const pulled = options.profiles === undefined ? undefined : { path: options.profiles, ...toProfiles(records) };
    const exporter = new DataExporter();
    const document = exporter.build(customers, {
      now: new Date(clock.now()),
      metadata: {
        source: options.baseUrl,
        seed: options.seed,
        total_pages: fetched.totalPages,
        pages_fetched: fetched.pages.size,
        records_skipped: summary.skipped,
        ...incomplete,
        ...(pulled && { profiles_written: pulled.profiles.length, profiles_without_email: pulled.withoutEmail.length }),
      },
    });
    const outputs: Output[] = [{ path: options.out, text: exporter.serialize(document) }];
    if (pulled) outputs.push({ path: pulled.path, text: profilesText(pulled.profiles) });
    // The export and the profiles replace their old files together, or neither does.
    await writeOutputs(outputs, signal);
    summary.out = options.out;
    summary.exported = customers.length;
    summary.qualitySummary = document.metadata.data_quality_summary;
    logger.info({ stage: 'export', out: options.out, exported: customers.length, incomplete: Boolean(failure) }, 'export written');
    const outcome = finish(failure);
    if (pulled) {
      outcome.profiles = { path: pulled.path, written: pulled.profiles.length, withoutEmail: pulled.withoutEmail.length };
      logProfiles(logger, outcome.profiles, pulled.withoutEmail);
    }
    return outcome;
  } catch (error) {
    return finish(toSyncError(error));
  }
}

/** Ids, not addresses (logs never hold an address), and only the first few: a source may lack thousands. */
const LOGGED_IDS = 20;

function logProfiles(logger: Logger, profiles: ProfilesWritten, withoutEmail: readonly number[]): void {
  const { path, written } = profiles;
  const fields = { stage: 'export' as const, profiles: path === '-' ? 'stdout' : path, written, withoutEmail: withoutEmail.length };
  if (withoutEmail.length === 0) {
    logger.info(fields, `profiles written: ${written}`);
    return;
  }
  const ids = withoutEmail.slice(0, LOGGED_IDS).join(', ') + (withoutEmail.length > LOGGED_IDS ? ', …' : '');
  logger.info(
    { ...fields, customerIds: withoutEmail.slice(0, LOGGED_IDS) },
    `profiles written: ${written}; ${count(withoutEmail.length, 'customer')} without a valid email left out (customer_id ${ids})`,
  );
}

/**
 * Is what was fetched the whole listing? No, when a page stayed unavailable, or when fewer
 * different records arrived than the source announced (the listing moved while it was paged: see
 * listing-check.ts). Returns the run's failure, if any, and what `metadata` says about it.
 */
async function completeness(
  fetched: FetchAllResult,
  allowPartial: boolean,
  refetch: (page: number) => Promise<ReqresPage>,
  logger: Logger,
): Promise<{ failure?: SyncError; incomplete: Record<string, unknown> }> {
  const missing = [...fetched.failures.keys()].sort((a, b) => a - b);
  if (missing.length > 0) {
    const reasons = missing.map((page) => fetched.failures.get(page)?.message).join('; ');
    return {
      failure: new UnavailableError(`${missing.length} of ${count(fetched.totalPages, 'page')} stayed unavailable (${reasons})`),
      incomplete: { incomplete: true, missing_pages: missing },
    };
  }
  const verdict = await checkListing(fetched.pages, refetch);
  if (verdict.complete) {
    if (verdict.duplicateRows > 0) {
      logger.info({ stage: 'fetch', duplicateRows: verdict.duplicateRows }, `the source holds ${count(verdict.duplicateRows, 'row')} twice, word for word (checked: its pages did not move)`);
    }
    return { incomplete: {} };
  }
  const outcome = allowPartial ? 'exported what arrived, marked incomplete' : 'nothing exported';
  return {
    failure: new SourceChangedError(`the source changed while paging: ${verdict.reason}; ${outcome}, run again`),
    incomplete: { incomplete: true, source_changed: true, source_total: verdict.count.announced, missing_pages: [] },
  };
}

/** Users in source order (page, then position); records without a usable id are logged and skipped. */
function collectUsers(pages: Map<number, ReqresPage>, logger: Logger): RawUser[] {
  const users: RawUser[] = [];
  for (const [page, body] of [...pages].sort(([a], [b]) => a - b)) {
    body.data.forEach((item, index) => {
      const parsed = RawUserSchema.safeParse(item);
      if (parsed.success) users.push(parsed.data);
      else logger.warn({ stage: 'transform', page, index }, `page ${page}, record ${index + 1}: skipped, no usable id`);
    });
  }
  return users;
}
