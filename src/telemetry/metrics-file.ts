import { ExitCode, WriteError, type SyncError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { Logger } from '../logging/logger.js';
import { noteMetricsWritten } from './exit-metrics.js';
import type { SyncMetrics } from './metrics.js';

export interface RunResult {
  exitCode: ExitCode;
  error?: SyncError;
}

/**
 * `--metrics-file FILE`: the run's metrics in Prometheus text format, written atomically so
 * node_exporter's textfile collector never reads half a file. The path was checked before the run;
 * if writing still fails (the disk filled up meanwhile), that is never silent: the run ends with
 * exit 1 and a line naming the file, and its summary is still printed (the data work was done).
 */
export async function writeMetricsFile(
  path: string,
  metrics: SyncMetrics,
  run: RunResult & { command: string; durationMs: number },
  logger: Logger,
): Promise<RunResult> {
  noteMetricsWritten();
  metrics.recordRun(run.command, { exitCode: run.exitCode, durationMs: run.durationMs, endedAt: Date.now() });
  try {
    await writeFileAtomic(path, await metrics.text());
    return run;
  } catch (caught) {
    const error = caught instanceof WriteError ? caught : new WriteError(path, caught);
    // A run that already failed keeps its own error as the closing line; this one is logged.
    if (run.error && run.exitCode !== ExitCode.ok && run.exitCode !== ExitCode.partial) {
      logger.error({ stage: 'run', errorClass: error.errorClass }, `--metrics-file ${error.message}`);
      return run;
    }
    return { exitCode: ExitCode.failed, error: new WriteError(path, error.cause) };
  }
}
