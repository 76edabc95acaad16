import { describe, expect, it } from 'vitest';
import { describeDemo, type DemoResult } from '../../src/demo/run-demo.js';
import { ExitCode } from '../../src/errors.js';
import type { PushSummary } from '../../src/push/run-push.js';

const NOUNS = /\b1 (?:[a-z]+ )?(pages|requests|retries|records|duplicates|customers|profiles|batches|contacts)\b/;

/** A demo where everything happened exactly once: each number is 1. */
function demoOfOnes(): DemoResult {
  const push: PushSummary = {
    total: 1,
    valid: 1,
    invalid: 1,
    duplicates: 1,
    unchanged: 1,
    delivered: 1,
    rejected: 1,
    failed: 1,
    batches: 1,
    requests: 1,
    retries: 1,
    rateLimited: 1,
    deadLettered: 1,
    durationMs: 1000,
  };
  return {
    pull: {
      summary: {
        pages: 1,
        requests: 1,
        retries: 1,
        rateLimited: 1,
        fetched: 1,
        skipped: 1,
        duplicatesRemoved: 1,
        exported: 1,
        qualitySummary: { high_quality: 1, medium_quality: 1, low_quality: 1 },
        out: 'out/customers.json',
        durationMs: 1000,
      },
    },
    push: { summary: push, exitCode: ExitCode.partial },
    hubspot: { summary: push, exitCode: ExitCode.partial },
    files: { export: 'out/customers.json', deadLetter: 'out/dead-letter.ndjson', report: 'out/report.ndjson', hubspotDeadLetter: 'out/hubspot-dead-letter.ndjson' },
  };
}

describe('describeDemo', () => {
  it('says "1 retry", "1 batch", "1 page": no plural after a one', () => {
    const text = describeDemo(demoOfOnes(), '/').join('\n');
    expect(text).not.toMatch(NOUNS);
    expect(text).toContain('1 retry (backoff with jitter)');
    expect(text).toContain('1 delivered in 1 batch ·');
    expect(text).toContain('1 page · 1 request · ');
  });

  it('keeps the plural for other numbers', () => {
    const result = demoOfOnes();
    result.push.summary = { ...result.push.summary, batches: 3, retries: 2 };
    const text = describeDemo(result, '/').join('\n');
    expect(text).toContain('1 delivered in 3 batches ·');
    expect(text).toContain('2 retries (same Idempotency-Key)');
  });
});
