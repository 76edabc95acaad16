import { BROKEN_PIPE_EXIT_CODE } from '../cli/broken-pipe.js';
import { ExitCode } from '../errors.js';
import type { RunRecord } from './run-record.js';

const MEANINGS: Record<number, string> = {
  [ExitCode.ok]: 'done',
  [ExitCode.failed]: 'failed',
  [ExitCode.usage]: 'could not start',
  [ExitCode.partial]: 'finished, some records rejected',
  [ExitCode.interrupted]: 'interrupted',
  [BROKEN_PIPE_EXIT_CODE]: 'stopped: its output was closed by its reader',
};

/** What an exit code means, in the words of the exit-code table. */
export function exitMeaning(code: number): string {
  return MEANINGS[code] ?? 'unknown exit code';
}

/**
 * One run as a line a person reads (plain text, no colour: it goes to stdout, often a file or a
 * pipe): when it started (UTC), what, against what, how it ended, its counts, how long, its id.
 * `2026-01-20T02:00:03Z  push  http://127.0.0.1:4020  exit 3 (finished, some records rejected)  delivered 36 of 47 · invalid 8 · rejected 3 · dead-lettered 11  4.2 s  run 3fa2b1c0`
 */
export function describeRun(run: RunRecord): string {
  return [
    startTime(run.startedAt),
    run.command,
    run.platform ?? '-',
    `exit ${run.exitCode} (${exitMeaning(run.exitCode)})`,
    counts(run),
    seconds(run.durationMs),
    `run ${run.runId}`,
  ].join('  ');
}

function startTime(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The counts that say what the run did; nothing when it stopped before it had a summary. */
function counts({ command, summary }: RunRecord): string {
  if (!summary) return 'no summary';
  const n = (key: string): number => (typeof summary[key] === 'number' ? summary[key] : 0);
  const some = (parts: [string, number][]): string[] => parts.filter(([, count]) => count > 0).map(([label, count]) => `${label} ${count}`);
  if (command === 'push') {
    return [`delivered ${n('delivered')} of ${n('total')}`, ...some([['unchanged', n('unchanged')], ['invalid', n('invalid')], ['duplicates', n('duplicates')], ['rejected', n('rejected')], ['failed', n('failed')], ['dead-lettered', n('deadLettered')]])].join(' · ');
  }
  // A pull that wrote nothing (`out: null`) left the previous export as it was.
  return [summary.out === null ? 'nothing exported' : `exported ${n('exported')}`, `pages ${n('pages')}`, ...some([['retries', n('retries')], ['rate-limited', n('rateLimited')]])].join(' · ');
}
