import { Counter, Gauge } from 'prom-client';
import type { SyncMetrics } from '../telemetry/metrics.js';
import type { PullSummary } from './run-pull.js';

/**
 * Pull's run as metrics: the shared names (sync_retries_total, sync_rate_limited_total) where they
 * mean the same as in serve and push, and pull's own for the rest.
 */
export function recordPull(metrics: SyncMetrics, summary: PullSummary): void {
  const { registry } = metrics;
  metrics.rateLimited.inc(summary.rateLimited);
  new Counter({ name: 'sync_source_requests_total', help: 'Requests sent to the source, retries included', registers: [registry] }).inc(summary.requests);
  new Counter({ name: 'sync_pull_pages_total', help: 'Pages fetched', registers: [registry] }).inc(summary.pages);
  new Counter({ name: 'sync_pull_records_fetched_total', help: 'User records fetched', registers: [registry] }).inc(summary.fetched);
  new Counter({ name: 'sync_pull_duplicates_removed_total', help: 'Records dropped as duplicates of a better one', registers: [registry] }).inc(
    summary.duplicatesRemoved,
  );
  new Gauge({ name: 'sync_pull_customers_exported', help: 'Customers in the export', registers: [registry] }).set(summary.exported);
  const bands = new Gauge({ name: 'sync_pull_customers_by_quality', help: 'Exported customers by quality band', labelNames: ['band'] as const, registers: [registry] });
  for (const [band, count] of Object.entries(summary.qualitySummary)) bands.set({ band: band.replace('_quality', '') }, count);
}
