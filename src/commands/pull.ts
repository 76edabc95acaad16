import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import { baseUrl, BOUNDS, concurrency, durationOption, integer, maxPages, maxRetries, nonEmpty, probability, rate, redisUrl, retryFor } from '../cli/parsers.js';
import { programName } from '../cli/program-name.js';
import { onInterrupt } from '../cli/signals.js';
import { ExitCode, UsageError } from '../errors.js';
import { quotaWaitMs } from '../engine/retry-policy.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../http/deadline.js';
import type { RunHistory } from '../history/run-recorder.js';
import type { ProfilesWritten, PullOptions, PullSummary } from '../pull/run-pull.js';
import { count } from '../ui/count.js';
import { defaultStateDir, parseStateDir } from '../state/state-dir.js';

export const DEFAULT_SOURCE_URL = 'https://reqres.in/api';
export const DEFAULT_API_KEY = 'reqres-free-v1';

/** The flags are the run's options, less the key (environment only) and with the switch optional. */
type PullFlags = Omit<PullOptions, 'apiKey' | 'allowPartial'> & {
  allowPartial?: boolean;
  metricsFile?: string;
  requestTimeout: number;
  retryFor?: number;
  redisUrl?: string;
  quotaKey?: string;
  state: string;
};

/** Every pull is recorded in the state directory's run history, naming its source. */
const PULL_HISTORY: RunHistory<PullFlags> = { command: 'pull', stateDir: (flags) => flags.state, platform: (flags) => flags.baseUrl };

export function registerPull(program: Command): void {
  program
    .command('pull')
    .description('fetch every page of the reqres users API, enrich, score, deduplicate and export JSON')
    .addOption(
      new Option('--base-url <url>', 'source API base URL').env('SYNC_SOURCE_URL').default(DEFAULT_SOURCE_URL).argParser(baseUrl('--base-url', 'SYNC_SOURCE_URL')),
    )
    .option('--out <file>', 'export file, - for stdout', 'customers.json')
    .option('--profiles <file>', 'also write each customer with a valid email as a profile that push takes (NDJSON, metadata = the enrichment), - for stdout', nonEmpty)
    .option('--max-retries <n>', `retries per request for 5xx, timeouts and resets (1 s, 2 s, 4 s… with jitter; at most ${BOUNDS.maxRetries.max})`, maxRetries, 3)
    .option('--retry-for <duration>', 'keep retrying a failing request until this long after its first failure (30s, 30m, 2h; at most 24h), instead of stopping after --max-retries: backoff grows to 60 s, 429 waits count', retryFor)
    .option('--rate <n>', `requests per second to the source (${BOUNDS.rate.min}–${BOUNDS.rate.max})`, rate, 10)
    .option('--concurrency <n>', `pages in flight (at most ${BOUNDS.concurrency.max})`, concurrency, 4)
    .option('--fault-rate <p>', 'simulate instability: fail this share of requests with 500/503 before they leave', probability, 0)
    .option('--seed <n>', 'seed for enrichment and simulated faults', integer, 0)
    .addOption(
      durationOption('--request-timeout <duration>', 'deadline of each request: connect, headers and the whole body (30s, 500ms, or milliseconds; at most 3600s)', DEFAULT_REQUEST_TIMEOUT_MS),
    )
    .addOption(new Option('--redis-url <url>', 'share the rate limit with other processes through this Redis').env('SYNC_REDIS_URL').argParser(redisUrl()))
    .option('--quota-key <name>', "the shared rate limit's name (default: the source's address)", nonEmpty)
    .option('--allow-partial', 'write what was fetched when some pages stay unavailable (marked incomplete, exit 1)')
    .option('--max-pages <n>', `refuse a source that announces more pages than this (at most ${BOUNDS.maxPages.max})`, maxPages, 1000)
    .option('--metrics-file <file>', "write the run's metrics in Prometheus text format (node_exporter textfile collector)")
    .addOption(
      new Option('--state <dir>', `where the run history (runs.ndjson, see ${programName()} runs) is kept, as for push`)
        .env('SYNC_STATE_DIR')
        .argParser(parseStateDir)
        .default(defaultStateDir(), '$XDG_STATE_HOME/sync or ~/.local/state/sync'),
    )
    .addHelpText(
      'after',
      `
Environment:
  SYNC_SOURCE_URL  base URL (the flag wins)
  SYNC_API_KEY     sent as x-api-key (default: ${DEFAULT_API_KEY})
  SYNC_REDIS_URL   shared rate limit (the flag wins)
  SYNC_STATE_DIR   the --state directory

Profiles (--profiles): one line per customer with a valid email, sorted like the export:
  {email, firstName, lastName, metadata: {customer_id, engagement_level, activity_status,
   acquisition_channel, market_segment, customer_tier, data_quality_score}}
  A customer without a valid email is left out (counted in the export's
  metadata.profiles_without_email); a missing name is written as "", and push dead-letters
  that profile with the reason. Written together with the export, or not at all.
  Only one of --out and --profiles may be -.

Example:
  $ ${programName()} pull --base-url http://127.0.0.1:4010/api --fault-rate 0.2 --out customers.json
  $ ${programName()} pull --profiles - --out customers.json | ${programName()} push - --to hubspot --map metadata.customer_tier=tier`,
    )
    .action(
      action<PullFlags>(async (flags, context) => {
        if (flags.out === '-' && context.json) throw new UsageError('--out - and --json both want stdout; pick one');
        // stdout carries one thing: the export, the profiles, or the summary.
        if (flags.profiles === '-' && flags.out === '-') throw new UsageError('--out - and --profiles - both want stdout; write one of them to a file');
        if (flags.profiles === '-' && context.json) throw new UsageError('--profiles - and --json both want stdout; pick one');
        const { checkOutputPaths } = await import('../io/output-paths.js');
        await checkOutputPaths([
          { flag: '--out', path: flags.out, stdout: true },
          { flag: '--profiles', path: flags.profiles, stdout: true },
          { flag: '--metrics-file', path: flags.metricsFile },
        ]);
        const { runPull, PULL_PACING } = await import('../pull/run-pull.js');
        const metrics = flags.metricsFile ? new (await import('../telemetry/metrics.js')).SyncMetrics() : undefined;
        const quota = flags.redisUrl
          ? await (await import('../quota/open-quota.js')).openQuota(
              {
                ...PULL_PACING,
                rate: flags.rate,
                redisUrl: flags.redisUrl,
                quotaKey: flags.quotaKey,
                remoteUrl: flags.baseUrl,
                giveUpAfterMs: quotaWaitMs(flags.maxRetries, flags.retryFor),
              },
              { logger: context.logger },
            )
          : undefined;
        const interruption = onInterrupt();
        const progress = context.terminal.progress('Fetching pages');
        try {
          const outcome = await runPull(
            { ...flags, retryForMs: flags.retryFor, apiKey: process.env.SYNC_API_KEY || DEFAULT_API_KEY, allowPartial: Boolean(flags.allowPartial) },
            { logger: context.logger, signal: interruption.signal, progress, metrics, timeoutMs: flags.requestTimeout, limiter: quota?.limiter },
          );
          const { summary } = outcome;
          let { error } = outcome;
          let exitCode: ExitCode = error?.exitCode ?? ExitCode.ok;
          if (flags.metricsFile && metrics) {
            const { writeMetricsFile } = await import('../telemetry/metrics-file.js');
            ({ exitCode, error } = await writeMetricsFile(flags.metricsFile, metrics, { command: 'pull', exitCode, error, durationMs: summary.durationMs }, context.logger));
          }
          return { exitCode, summary, error, report: report(summary, flags.out, outcome.profiles), stage: 'export' };
        } finally {
          progress.stop();
          interruption.dispose();
          await quota?.close();
        }
      }, PULL_HISTORY),
    );
}

function report(summary: PullSummary, out: string, profiles: ProfilesWritten | undefined): string[] {
  const q = summary.qualitySummary;
  const target = out === '-' ? 'stdout' : out;
  return [
    summary.out === null ? `Nothing exported; ${target} left as it was.` : `Exported ${count(summary.exported, 'customer')} to ${target}.`,
    ...(profiles ? [profilesLine(profiles)] : []),
    `  pages ${summary.pages} · requests ${summary.requests} · retries ${summary.retries} · rate-limited ${summary.rateLimited}`,
    `  fetched ${summary.fetched} · skipped (no id) ${summary.skipped} · duplicates removed ${summary.duplicatesRemoved} · quality high ${q.high_quality} / medium ${q.medium_quality} / low ${q.low_quality}`,
    `  took ${(summary.durationMs / 1000).toFixed(1)} s`,
  ];
}

function profilesLine({ path, written, withoutEmail }: ProfilesWritten): string {
  const left = withoutEmail > 0 ? ` (${count(withoutEmail, 'customer')} without a valid email left out)` : '';
  return `Wrote ${count(written, 'profile')} to ${path === '-' ? 'stdout' : path}${left}.`;
}
