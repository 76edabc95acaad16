import { z } from 'zod';

/** The commands that leave a line in the run history. */
export const RECORDED_COMMANDS = ['push', 'pull'] as const;

/**
 * One line of `runs.ndjson`: one run of push or pull, whatever its outcome. `summary` is the run's
 * `--json` summary (null when it stopped before it had one: a run that could not start, or one
 * ended at once by a second Ctrl-C); `platform` is what push names the platform by in its state,
 * or pull's source URL (null when the flags named none). Extra keys are allowed when reading, so a
 * newer version's lines still list.
 */
export const RunRecordSchema = z.object({
  runId: z.string(),
  command: z.enum(RECORDED_COMMANDS),
  /** ISO 8601. */
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  exitCode: z.number().int(),
  platform: z.string().nullable(),
  summary: z.record(z.string(), z.unknown()).nullable(),
});

export type RunRecord = z.infer<typeof RunRecordSchema>;
export type RecordedCommand = RunRecord['command'];

/** The line as written: the keys in the documented order, one line. */
export function runLine(run: RunRecord): string {
  const { runId, command, startedAt, durationMs, exitCode, platform, summary } = run;
  return JSON.stringify({ runId, command, startedAt, durationMs, exitCode, platform, summary });
}
