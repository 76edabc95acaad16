import { writeOutputs } from '../io/write-outputs.js';
import { qualityBand } from './enrichment.js';
import type { Customer, ExportDocument, QualitySummary } from './schemas.js';

export interface ExportOptions {
  now: Date;
  /** Extra keys inside `metadata` (source, seed, incomplete, …). */
  metadata?: Record<string, unknown>;
}

/** Builds the export document and its quality summary, and writes it atomically (or to stdout). */
export class DataExporter {
  summarize(customers: readonly Customer[]): QualitySummary {
    const summary: QualitySummary = { high_quality: 0, medium_quality: 0, low_quality: 0 };
    for (const customer of customers) summary[qualityBand(customer.data_quality_score)] += 1;
    return summary;
  }

  build(customers: readonly Customer[], { now, metadata }: ExportOptions): ExportDocument {
    return {
      metadata: {
        total_customers: customers.length,
        export_timestamp: now.toISOString(),
        data_quality_summary: this.summarize(customers),
        ...metadata,
      },
      customers: [...customers],
    };
  }

  /** The export's text: indented JSON with a final newline. */
  serialize(document: ExportDocument): string {
    return `${JSON.stringify(document, null, 2)}\n`;
  }

  /** `-` writes to stdout; a path is replaced atomically so a failed run leaves the old file. */
  async write(document: ExportDocument, out: string, signal?: AbortSignal): Promise<void> {
    await writeOutputs([{ path: out, text: this.serialize(document) }], signal);
  }
}
