import { writeFileAtomic } from '../io/atomic-write.js';
import type { SyncMetrics } from './metrics.js';

/**
 * `--metrics-file FILE`: the run's metrics in Prometheus text format, written atomically so
 * node_exporter's textfile collector never reads half a file.
 */
export async function writeMetricsFile(
  path: string,
  metrics: SyncMetrics,
  run: { command: string; exitCode: number; durationMs: number },
): Promise<void> {
  metrics.recordRun(run.command, { ...run, endedAt: Date.now() });
  await writeFileAtomic(path, await metrics.text());
}
