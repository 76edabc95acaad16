/** How a one-shot run ended: what cron's alerts read from a pull's or push's metrics file. */
export interface RunRecord {
  exitCode: number;
  durationMs: number;
  /** Unix time in ms. */
  endedAt: number;
}

/**
 * The run gauges, named once for both writers: prom-client's (metrics.ts) and the text below,
 * which an exiting process writes without prom-client (its rendering is async, and an 'exit'
 * listener runs no promise).
 */
export const RUN_GAUGES = [
  { name: 'sync_run_exit_code', help: 'Exit code of the last run', value: (run: RunRecord): number => run.exitCode },
  { name: 'sync_run_duration_seconds', help: 'Duration of the last run', value: (run: RunRecord): number => run.durationMs / 1000 },
  { name: 'sync_run_last_timestamp_seconds', help: 'When the last run ended (Unix time)', value: (run: RunRecord): number => run.endedAt / 1000 },
] as const;

/** The run gauges of `command` in the Prometheus text format, as prom-client renders them. */
export function runGaugesText(command: string, run: RunRecord): string {
  return RUN_GAUGES.map(({ name, help, value }) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{command="${command}"} ${value(run)}\n`).join('\n');
}
