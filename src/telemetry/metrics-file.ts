import { toSyncError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { Logger } from '../logging/logger.js';
import type { SyncMetrics } from './metrics.js';

/**
 * `--metrics-file FILE`: the run's metrics in Prometheus text format, written atomically so
 * node_exporter's textfile collector never reads half a file. The path was checked before the run;
 * if writing still fails (disk filled meanwhile), that is logged as an error, and the run's own
 * exit code and summary stand: the data work was done.
 */
export async function writeMetricsFile(
  path: string,
  metrics: SyncMetrics,
  run: { command: string; exitCode: number; durationMs: number },
  logger: Logger,
): Promise<void> {
  metrics.recordRun(run.command, { ...run, endedAt: Date.now() });
  try {
    await writeFileAtomic(path, await metrics.text());
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    logger.error({ stage: 'run', errorClass: 'unexpected', ...(code ? { code } : {}) }, `--metrics-file ${path}: not written (${toSyncError(error).message})`);
  }
}
