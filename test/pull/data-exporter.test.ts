import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DataExporter } from '../../src/pull/data-exporter.js';
import { ExportDocumentSchema, type Customer } from '../../src/pull/schemas.js';
import { useTempDir } from '../helpers/tmp.js';

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

describe('DataExporter.write', () => {
  const exporter = new DataExporter();
  const dir = useTempDir();
  const document = exporter.build([customer(1, 100), customer(2, 60)], { now: new Date('2026-01-20T15:30:00.000Z') });

  it('writes the document as indented JSON with a final newline, replacing the old file', async () => {
    const out = join(dir(), 'customers.json');
    writeFileSync(out, 'old');
    await exporter.write(document, out);
    const written = readFileSync(out, 'utf8');
    expect(written).toBe(`${JSON.stringify(document, null, 2)}\n`);
    expect(JSON.parse(written)).toEqual(document);
    expect(readdirSync(dir())).toEqual(['customers.json']);
  });

  it('a stopped run leaves the old file as it was', async () => {
    const out = join(dir(), 'customers.json');
    writeFileSync(out, 'old');
    await expect(exporter.write(document, out, AbortSignal.abort())).rejects.toThrow();
    expect(readFileSync(out, 'utf8')).toBe('old');
  });

  it('"-" writes the same text to stdout, and no file', async () => {
    const chunks: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string, callback?: (error?: Error | null) => void) => {
      chunks.push(chunk);
      callback?.();
      return true;
    }) as typeof process.stdout.write);
    await exporter.write(document, '-');
    expect(chunks).toEqual([`${JSON.stringify(document, null, 2)}\n`]);
  });

  it('a failed write to stdout is an error, not a silent success', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(((_chunk: string, callback?: (error?: Error | null) => void) => {
      callback?.(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      return false;
    }) as typeof process.stdout.write);
    await expect(exporter.write(document, '-')).rejects.toThrow('EPIPE');
  });
});
