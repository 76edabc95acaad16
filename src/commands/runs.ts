import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import { positiveInt } from '../cli/parsers.js';
import { programName } from '../cli/program-name.js';
import { ExitCode } from '../errors.js';
import { defaultStateDir, parseStateDir } from '../state/state-dir.js';

/** Damaged lines named one by one before the rest are only counted. */
const NAMED_DAMAGE = 5;

export function registerRuns(program: Command): void {
  program
    .command('runs')
    .description('list the last runs of push and pull (their exit codes and counts), newest last')
    .option('--last <n>', 'how many runs to list', positiveInt, 20)
    .addOption(
      new Option('--state <dir>', 'the state directory whose run history (runs.ndjson) to list')
        .env('SYNC_STATE_DIR')
        .argParser(parseStateDir)
        .default(defaultStateDir(), '$XDG_STATE_HOME/sync or ~/.local/state/sync'),
    )
    .addHelpText(
      'after',
      `
Every push and pull (but push --dry-run) appends one line to runs.ndjson in its --state directory,
whatever its outcome. Without --json, one readable line per run: start (UTC), command, platform or
source, exit code and its meaning, counts, duration, run id (the runId of its logs, dead letters and
report lines). With --json, each run's line as stored: one JSON object per line, {runId, command,
startedAt, durationMs, exitCode, platform, summary}, newest last. A damaged line is skipped with a
warning on stderr.

Examples:
  $ ${programName()} runs --last 5
  $ ${programName()} runs --json | jq -c 'select(.exitCode == 1 or .exitCode == 2)'`,
    )
    .action(
      action<{ last: number; state: string }>(async (flags, context) => {
        const { historyPath, readLastRuns } = await import('../history/run-history.js');
        const { describeRun } = await import('../history/describe-run.js');
        const path = historyPath(flags.state);
        let damaged = 0;
        const runs = await readLastRuns(flags.state, flags.last, ({ offset, why }) => {
          damaged += 1;
          if (damaged <= NAMED_DAMAGE) context.logger.warn({ stage: 'run', history: path, offset }, `${path}: skipped the line at byte ${offset}: ${why}`);
        });
        if (damaged > NAMED_DAMAGE) context.logger.warn({ stage: 'run', history: path, damaged }, `${path}: skipped ${damaged} damaged lines in all`);
        if (!runs) {
          // Said, not silent: a mistyped --state would otherwise look like a history with no runs.
          context.logger.info({ stage: 'run', history: path }, `no run history in ${flags.state} yet (push and pull record their runs in ${path})`);
          return { exitCode: ExitCode.ok, stage: 'run' };
        }
        const lines = runs.map(({ run, text }) => (context.json ? text : describeRun(run)));
        if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
        return { exitCode: ExitCode.ok, stage: 'run' };
      }),
    );
}
