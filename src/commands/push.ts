import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import { addDeliveryOptions, destinationsHelp, downstreamToken } from '../cli/destination-options.js';
import { BOUNDS, durationOption, maxRetries, nonEmpty, redisUrl, retryFor } from '../cli/parsers.js';
import { programName } from '../cli/program-name.js';
import { exitWhenDone } from '../cli/quick-exit.js';
import { onInterrupt } from '../cli/signals.js';
import { SHARED_DELIVERY_PACING } from '../delivery/pacing.js';
import { quotaWaitMs } from '../engine/retry-policy.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../http/deadline.js';
import type { PushOptions, PushSummary } from '../push/run-push.js';
import type { RunHistory } from '../history/run-recorder.js';
import { defaultStateDir, parseStateDir } from '../state/state-dir.js';
import { count } from '../ui/count.js';
import { noProgress } from '../ui/terminal.js';

type PushFlags = Omit<PushOptions, 'file' | 'token' | 'dryRun' | 'full' | 'stateDir' | 'resolved'> & {
  dryRun?: boolean;
  full?: boolean;
  state: string;
  requestTimeout: number;
  retryFor?: number;
  redisUrl?: string;
  quotaKey?: string;
};

export function registerPush(program: Command): void {
  addDeliveryOptions(
    program
      .command('push')
      .description('validate a JSON/NDJSON file of profiles and deliver the changed ones in rate-limited batches')
      .argument('<file>', 'JSON array or NDJSON of profiles, a dead-letter file to replay, or - for stdin'),
  )
    .option('--max-retries <n>', `retries per batch for 5xx, timeouts and resets (at most ${BOUNDS.maxRetries.max})`, maxRetries, 3)
    .option('--retry-for <duration>', 'keep retrying a failing batch until this long after its first failure (30s, 30m, 2h; at most 24h), instead of stopping after --max-retries: backoff grows to 60 s, 429 waits count', retryFor)
    .addOption(
      durationOption('--request-timeout <duration>', 'deadline of each request: connect, headers and the whole body (30s, 500ms, or milliseconds; at most 3600s)', DEFAULT_REQUEST_TIMEOUT_MS),
    )
    .addOption(new Option('--redis-url <url>', 'share the rate limit with other processes through this Redis').env('SYNC_REDIS_URL').argParser(redisUrl()))
    .option('--quota-key <name>', "the shared rate limit's name (default: the SYNC_DOWNSTREAM_TOKEN's fingerprint, else the downstream's address)", nonEmpty)
    .option('--dead-letter <file>', 'NDJSON of every profile not delivered, with line, class and reason (appended to)', 'dead-letter.ndjson')
    .option('--report <file>', 'NDJSON with one outcome line per input record (appended to)')
    .addOption(
      new Option('--state <dir>', 'where push remembers what the platform accepted')
        .env('SYNC_STATE_DIR')
        .argParser(parseStateDir)
        .default(defaultStateDir(), '$XDG_STATE_HOME/sync or ~/.local/state/sync'),
    )
    .option('--full', 'send every valid profile, also those the platform already has unchanged')
    .option('--dry-run', 'validate and print the profiles that would be sent; send nothing, write no file, change no state')
    .option('--metrics-file <file>', "write the run's metrics in Prometheus text format (node_exporter textfile collector)")
    .addHelpText(
      'after',
      `
Environment:
  SYNC_DESTINATION       --to (the flag wins)
  SYNC_DOWNSTREAM_URL    the platform's base URL (the flag wins)
  SYNC_DOWNSTREAM_TOKEN  the platform's credential (see below)
  SYNC_LIST_ID           --list
  SYNC_STATE_DIR         the --state directory
  SYNC_REDIS_URL         shared rate limit (the flag wins)

${destinationsHelp()}

Only profiles that changed since the platform last accepted them are sent; --full sends all.
After a crash or Ctrl-C, run the same command again: it continues where it stopped.

Examples:
  $ ${programName()} push profiles.ndjson --downstream-url http://127.0.0.1:4020
  $ SYNC_DOWNSTREAM_TOKEN=pat-… ${programName()} push profiles.ndjson --to hubspot --map metadata.customer_tier=tier
  $ ${programName()} push dead-letter.ndjson --dead-letter dead-letter.ndjson --downstream-url http://127.0.0.1:4020
                                       # replay after an outage: the file keeps only what failed again
  $ ${programName()} push profiles.ndjson --downstream-url https://platform.example --retry-for 30m
                                       # from cron: ride out an outage of up to 30 minutes`,
    )
    .action(
      action<PushFlags>(async (flags, context, [file]) => {
        // The state's process starts while the rest of push loads (see startAhead; cli/keeper-ahead.ts
        // has usually started it already); a dry run only reads a state that exists, and is not worth
        // a process it may not use.
        if (!flags.dryRun) (await import('../state/keeper-client.js')).KeeperClient.startAhead();
        const { runPush } = await import('../push/run-push.js');
        const { resolveTarget } = await import('../destinations/registry.js');
        const token = downstreamToken();
        const resolved = resolveTarget(flags, token, { contactless: Boolean(flags.dryRun) });
        const { target } = resolved;
        const metrics = flags.metricsFile ? new (await import('../telemetry/metrics.js')).SyncMetrics() : undefined;
        // A dry run sends nothing, so it needs no quota (and never Redis).
        const quota =
          flags.redisUrl && !flags.dryRun
            ? await (await import('../quota/open-quota.js')).openQuota(
                {
                  ...SHARED_DELIVERY_PACING,
                  rate: resolved.rate,
                  redisUrl: flags.redisUrl,
                  quotaKey: flags.quotaKey,
                  remoteUrl: target.baseUrl,
                  credential: token,
                  namespace: target.destination.name === 'sync' ? undefined : target.destination.name,
                  giveUpAfterMs: quotaWaitMs(flags.maxRetries, flags.retryFor),
                },
                { logger: context.logger },
              )
            : undefined;
        const interruption = onInterrupt();
        const progress = context.terminal.progress('Pushing');
        try {
          const outcome = await runPush(
            {
              ...flags,
              file: file!,
              resolved,
              retryForMs: flags.retryFor,
              token,
              dryRun: Boolean(flags.dryRun),
              full: Boolean(flags.full),
              stateDir: flags.state,
            },
            {
              logger: context.logger,
              runId: context.runId,
              verbose: context.verbose,
              quietBatches: context.logFormat === 'pretty',
              signal: interruption.signal,
              // Not drawn (no terminal): the line is not worth computing every 250 ms.
              progress: progress === noProgress ? undefined : progress,
              stdout: context.json ? undefined : process.stdout,
              metrics,
              timeoutMs: flags.requestTimeout,
              limiter: quota?.limiter,
            },
          );
          // The run is over and everything after this is awaited (the state is closed, its keeper
          // gone): the process ends once its output is written, without Node's teardown.
          exitWhenDone();
          const { summary } = outcome;
          let { exitCode, error } = outcome;
          if (flags.metricsFile && metrics && !flags.dryRun) {
            const { writeMetricsFile } = await import('../telemetry/metrics-file.js');
            metrics.recordRecords('push', summary);
            ({ exitCode, error } = await writeMetricsFile(flags.metricsFile, metrics, { command: 'push', exitCode, error, durationMs: summary.durationMs }, context.logger));
          }
          return { exitCode, summary, error, report: report(summary, flags), stage: 'send' };
        } finally {
          progress.stop();
          interruption.dispose();
          await quota?.close();
        }
      }, PUSH_HISTORY),
    );
}

/** Every push is recorded in the state directory's run history, but a dry run (it touches no state). */
const PUSH_HISTORY: RunHistory<PushFlags> = {
  command: 'push',
  stateDir: (flags) => (flags.dryRun ? undefined : flags.state),
  platform: async (flags) => {
    const { resolveTarget } = await import('../destinations/registry.js');
    // What the state names this platform by; null when the account is unknown (no token).
    const { target } = resolveTarget(flags, downstreamToken(), { contactless: true });
    return (target.baseUrl && target.destination.identity(target)) || null;
  },
};

function report(s: PushSummary, flags: PushFlags): string[] {
  if (flags.dryRun) {
    const unchanged = s.unchanged > 0 ? `, ${s.unchanged} unchanged since the platform accepted them` : '';
    return [`Dry run: ${s.valid} of ${count(s.total, 'profile')} valid${unchanged}; ${s.valid - s.unchanged} would be sent. Nothing sent, no file written.`];
  }
  const lines = [
    `Delivered ${s.delivered} of ${count(s.total, 'profile')} in ${count(s.batches, 'batch', 'batches')}.`,
    `  unchanged ${s.unchanged} · invalid ${s.invalid} · duplicates merged ${s.duplicates} · rejected ${s.rejected} · failed ${s.failed}`,
    `  requests ${s.requests} · retries ${s.retries} · rate-limited ${s.rateLimited} · took ${(s.durationMs / 1000).toFixed(1)} s`,
  ];
  if (s.deadLettered > 0) {
    lines.push(`  ${count(s.deadLettered, 'record')} added to ${flags.deadLetter} (replay: ${programName()} push ${flags.deadLetter} --dead-letter ${flags.deadLetter}${targetFlags(flags)})`);
  }
  return lines;
}

/** The flags that name the same platform again, for a hint the user can paste. */
function targetFlags(flags: PushFlags): string {
  const parts: string[] = [];
  if (flags.to && flags.to !== 'sync') parts.push(`--to ${flags.to}`);
  if (flags.downstreamUrl) parts.push(`--downstream-url ${flags.downstreamUrl}`);
  if (flags.list) parts.push(`--list ${flags.list}`);
  for (const map of flags.map ?? []) parts.push(`--map ${map}`);
  return parts.map((part) => ` ${part}`).join('');
}
