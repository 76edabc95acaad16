import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, timedNode, writeProfiles } from './push.js';

const BASELINE = fileURLToPath(new URL('./baselines/validate-loop.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COUNT = Number(process.env.BENCH_PROFILES ?? 1_000_000);

/**
 * The CPUs both sides of a run are held to in turn, or none: they run where the scheduler puts
 * them (BENCH_PIN=0, or no taskset). This machine's two vCPUs are not always equally fast: in
 * spells of seconds to minutes one of them runs this work up to 2× as long (2026-11-30, pinned with
 * taskset: the bare loop 2.6–3.1 s on CPU 0 against 4.5–5.5 s on CPU 1, sync 3.7–3.8 s against
 * 5.1–5.4 s), its CPU time growing with it, while the guest shows no other busy process and no
 * steal time: the cause is outside the guest (the host's other tenants, presumably). An unpinned
 * process mostly stays on the CPU it starts on (0–4 moves a run, sampled every 20 ms), so an
 * unpinned run's ratio said which CPU each side got (sync 8.1 s on the slow one after the loop's
 * 3.6 s on the other: 0.44×), not what sync costs against the loop. Pinned, both sides of a run
 * share one CPU's speed; runs go round the CPUs, so each CPU's speed shows. Both sides lose the
 * same thing to it: their GC and compiler threads share the one core.
 */
const CPUS = process.env.BENCH_PIN !== '0' && spawnSync('taskset', ['-V']).status === 0 ? allowedCpus() : [];
const cpuOf = (run) => (CPUS.length > 0 ? CPUS[(run - 1) % CPUS.length] : undefined);

/** The CPUs this process may run on (Linux; a container's cpuset need not start at 0), or none. */
function allowedCpus() {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (!list) return [];
    return list.split(',').flatMap((part) => {
      const [from, to = from] = part.split('-').map(Number);
      return Array.from({ length: to - from + 1 }, (_, i) => from + i);
    });
  } catch {
    return [];
  }
}

/** `node ARGS` on `cpu` (if given), its stdout read as the run's JSON summary. */
async function measured(args, cpu) {
  const run = await timedNode(args, { cpu });
  return { ...run, summary: JSON.parse(run.stdout) };
}

const perSecond = (valid, ms) => Math.round((valid * 1000) / ms);
const mb = (kb) => Math.round(kb / 1024);
const range = (values) => `${Math.min(...values).toLocaleString('en')}–${Math.max(...values).toLocaleString('en')}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/**
 * Issue 19: `push --dry-run` against the bare loop (readline + JSON.parse + a zod 4 schema of the
 * same shape), on the same machine at the same time: each run holds both to one CPU (see CPUS) and
 * runs two pairs, loop then sync. Each side's own figure: sync's summary durationMs, the loop's own
 * timer (both exclude process start). A run's ratio is of each side's better time: the host's slow
 * spells also come and go within a run (the same CPU, pinned, 1.25–2.0× slower for seconds to
 * minutes, its CPU time growing with it), and one that covers a single execution is not what
 * either side costs. Each pair's own ratio (one run of each, spells included) is printed beside it.
 */
export async function validationBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-validation-'));
  try {
    const file = join(dir, 'profiles.ndjson');
    await writeProfiles(file, COUNT);
    const where = CPUS.length > 0 ? `each run on one CPU, going round CPUs ${CPUS.join(', ')}` : 'unpinned (BENCH_PIN=0, or no taskset)';
    console.log(`\n## push --dry-run of ${COUNT.toLocaleString('en')} NDJSON profiles vs the bare loop (readline + JSON.parse + zod), ${RUNS} runs of two pairs (loop then sync), ${where}; load ${load()}`);
    const ours = [];
    const theirs = [];
    const ratios = [];
    const pairRatios = [];
    const rss = [];
    const sync = (cpu) => measured([BIN, 'push', file, '--dry-run', '--json', '--quiet'], cpu);
    const bare = (cpu) => measured([BASELINE, file], cpu);
    for (let run = 1; run <= RUNS; run++) {
      const cpu = cpuOf(run);
      const loops = [];
      const syncs = [];
      for (let pair = 0; pair < 2; pair++) {
        loops.push(await bare(cpu));
        syncs.push(await sync(cpu));
      }
      const rate = ({ summary }) => perSecond(summary.valid, summary.durationMs);
      const a = Math.max(...syncs.map(rate));
      const b = Math.max(...loops.map(rate));
      const pairs = [rate(syncs[0]) / rate(loops[0]), rate(syncs[1]) / rate(loops[1])];
      ours.push(a);
      theirs.push(b);
      ratios.push(a / b);
      pairRatios.push(...pairs);
      const syncRss = Math.max(...syncs.map((s) => mb(s.rssKb)));
      rss.push(syncRss);
      const ms = (runs) => runs.map((r) => r.summary.durationMs).join(' / ');
      console.log(
        `run ${run}${cpu === undefined ? '' : ` (CPU ${cpu})`}: sync exit ${syncs.map((s) => s.code).join('/')}, ${syncs[0].summary.valid.toLocaleString('en')} valid in ${ms(syncs)} ms → ${a.toLocaleString('en')}/s, peak RSS ${syncRss} MB | ` +
          `bare loop ${loops[0].summary.valid.toLocaleString('en')} valid in ${ms(loops)} ms → ${b.toLocaleString('en')}/s, peak RSS ${Math.max(...loops.map((l) => mb(l.rssKb)))} MB | ` +
          `ratio ${(a / b).toFixed(2)}× (pairs ${pairs.map((r) => r.toFixed(2)).join(', ')}×)`,
      );
    }
    const spread = (values) => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}×`;
    console.log(
      `sync ${range(ours)} profiles/s, bare loop ${range(theirs)}/s: ratio ${spread(ratios)} (target ≥ 0.6×; single pairs ${spread(pairRatios)}); ` +
        `peak RSS ${Math.max(...rss)} MB (target ≤ 150 MB); load ${load()}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
