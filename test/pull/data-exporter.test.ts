import { describe, expect, it } from 'vitest';
import { DataExporter } from '../../src/pull/data-exporter.js';
import { ExportDocumentSchema, type Customer } from '../../src/pull/schemas.js';

function customer(id: number, score: number): Customer {
  return {
    customer_id: id,
    full_name: `Customer ${id}`,
    email_domain: 'reqres.in',
    engagement_level: 'high',
    activity_status: 'active',
    acquisition_channel: 'website',
    market_segment: 'US-West',
    customer_tier: 'premium',
    data_quality_score: score,
  };
}

describe('DataExporter', () => {
  const exporter = new DataExporter();

  it('bands quality at 90 and 70, and the bands add up to the total', () => {
    const customers = [100, 90, 89, 70, 69, 30].map((score, i) => customer(i + 1, score));
    const summary = exporter.summarize(customers);
    expect(summary).toEqual({ high_quality: 2, medium_quality: 2, low_quality: 2 });
    expect(summary.high_quality + summary.medium_quality + summary.low_quality).toBe(customers.length);
  });

  it('builds a document in the contract shape with extra metadata inside metadata', () => {
    const document = exporter.build([customer(1, 100)], {
      now: new Date('2026-01-20T15:30:00.000Z'),
      metadata: { seed: 0 },
    });
    expect(ExportDocumentSchema.parse(document)).toEqual(document);
    expect(document.metadata).toEqual({
      total_customers: 1,
      export_timestamp: '2026-01-20T15:30:00.000Z',
      data_quality_summary: { high_quality: 1, medium_quality: 0, low_quality: 0 },
      seed: 0,
    });
    expect(Object.keys(document)).toEqual(['metadata', 'customers']);
  });
});
