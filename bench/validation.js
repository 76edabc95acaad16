import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timed, writeProfiles } from './push.js';

const BASELINE = fileURLToPath(new URL('./baselines/validate-loop.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COUNT = Number(process.env.BENCH_PROFILES ?? 1_000_000);

/** The bare loop under /usr/bin/time, as `timed` runs sync. */
function baseline(file) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'RSS_KB=%M', process.execPath, BASELINE, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, summary: JSON.parse(stdout), rssKb: Number(/RSS_KB=(\d+)/.exec(stderr)?.[1]) }));
  });
}

const perSecond = (valid, ms) => Math.round((valid * 1000) / ms);
const mb = (kb) => Math.round(kb / 1024);
const range = (values) => `${Math.min(...values).toLocaleString('en')}–${Math.max(...values).toLocaleString('en')}`;

/**
 * Issue 19: `push --dry-run` against the bare loop (readline + JSON.parse + a zod 4 schema of the
 * same shape), alternated in the same run so both see the same machine. Each side's own figure:
 * sync's summary durationMs, the loop's own timer (both exclude process start).
 */
export async function validationBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-validation-'));
  try {
    const file = join(dir, 'profiles.ndjson');
    await writeProfiles(file, COUNT);
    console.log(`\n## push --dry-run of ${COUNT.toLocaleString('en')} NDJSON profiles vs the bare loop (readline + JSON.parse + zod), ${RUNS} runs alternated`);
    const ours = [];
    const theirs = [];
    const ratios = [];
    const rss = [];
    for (let run = 1; run <= RUNS; run++) {
      const bare = await baseline(file);
      const sync = await timed(['push', file, '--dry-run', '--json', '--quiet']);
      const summary = JSON.parse(sync.stdout);
      const a = perSecond(summary.valid, summary.durationMs);
      const b = perSecond(bare.summary.valid, bare.summary.durationMs);
      ours.push(a);
      theirs.push(b);
      ratios.push(a / b);
      rss.push(mb(sync.rssKb));
      console.log(
        `run ${run}: sync exit ${sync.code}, ${summary.valid.toLocaleString('en')} valid in ${summary.durationMs} ms → ${a.toLocaleString('en')}/s, peak RSS ${mb(sync.rssKb)} MB | ` +
          `bare loop ${bare.summary.valid.toLocaleString('en')} valid in ${bare.summary.durationMs} ms → ${b.toLocaleString('en')}/s, peak RSS ${mb(bare.rssKb)} MB | ratio ${(a / b).toFixed(2)}×`,
      );
    }
    console.log(`sync ${range(ours)} profiles/s, bare loop ${range(theirs)}/s: ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}× (target ≥ 0.6×); peak RSS ${Math.max(...rss)} MB (target ≤ 150 MB)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
