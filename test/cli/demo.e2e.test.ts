import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExportDocumentSchema } from '../../src/pull/schemas.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

describe('sync demo (spawned)', () => {
  const tmp = useTempDir();

  it('runs pull and push offline, exits 0 and reports both runs with the files it wrote', async () => {
    // Bounded, not timed: a demo that hangs past 30 s is killed and fails here (its ~2 s is in README).
    const result = await runCli(['demo', '--out-dir', 'out'], { cwd: tmp(), timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/1\. pull: customers from the reqres users API/);
    expect(result.stdout).toMatch(/24 customers enriched and exported/);
    expect(result.stdout).toMatch(/2\. push: 47 user profiles/);
    expect(result.stdout).toMatch(/11 records not delivered, each with its line and reason → out\/dead-letter\.ndjson/);
    // A real platform's API (its simulator): the same profiles upserted to HubSpot, its refusals dead-lettered.
    expect(result.stdout).toMatch(/3\. push --to hubspot: the same 47 profiles to HubSpot/);
    expect(result.stdout).toMatch(/35 contacts upserted in \d+ batch(es)? \(metadata\.source → the property lead_source\) · 3 refused by HubSpot/);
    const refused = readFileSync(join(tmp(), 'out', 'hubspot-dead-letter.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { reason: string });
    expect(refused.filter((letter) => letter.reason.includes('BLOCKED_EMAIL'))).toHaveLength(3);
    const retries = /(\d+) retr(?:y|ies) \(backoff/.exec(result.stdout);
    expect(Number(retries?.[1])).toBeGreaterThan(0);
    expect(Number(/(\d+) retr(?:y|ies) \(same Idempotency-Key\)/.exec(result.stdout)?.[1])).toBeGreaterThan(0);

    const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(join(tmp(), 'out', 'customers.json'), 'utf8')));
    expect(document.customers).toHaveLength(24);
    expect(readFileSync(join(tmp(), 'out', 'dead-letter.ndjson'), 'utf8').trim().split('\n')).toHaveLength(11);
    expect(existsSync(join(tmp(), 'out', 'report.ndjson'))).toBe(true);
  });

  it('--json prints both summaries as one object', async () => {
    const result = await runCli(['demo', '--out-dir', 'out', '--json', '--quiet'], { cwd: tmp(), timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.pull).toMatchObject({ exported: 24 });
    expect(summary.push).toMatchObject({ total: 47, deadLettered: 11 });
    expect(summary.hubspot).toMatchObject({ total: 47, delivered: 35, rejected: 3, deadLettered: 11 });
  });
});
