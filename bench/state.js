import { spawn } from 'node:child_process';
import { cpSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMock, writeProfiles } from './push.js';

// BENCH_BIN: another build's bin/sync.js (e.g. main's), to measure before and after on the same machine state.
// BENCH_BIN_BEFORE: a second build; then only the incremental push runs, the two builds alternated (see compareIncremental).
const BIN = process.env.BENCH_BIN ?? fileURLToPath(new URL('../bin/sync.js', import.meta.url));

/**
 * Runs `sync …` and samples its memory every 50 ms: anonymous memory (the process's own) and
 * file-backed pages apart, since the state is a memory-mapped file: its pages count in RSS but are
 * page cache, shared and dropped by the kernel under pressure.
 */
function sampled(args, bin = BIN) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const peak = { rss: 0, anon: 0, file: 0 };
    const timer = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
        peak.rss = Math.max(peak.rss, kb('VmRSS'));
        peak.anon = Math.max(peak.anon, kb('RssAnon'));
        peak.file = Math.max(peak.file, kb('RssFile'));
      } catch {
        // exited between two samples
      }
    }, 50);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, wallMs: performance.now() - started, peak });
    });
  });
}

const N = 1_000_000;
const BATCH = 1000;
const RATE = 5;

/** The same file with every `every`th profile changed. */
async function changeEvery(every, from, to) {
  const out = createWriteStream(to);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(from) })) {
    const changed = i % every === 0 ? line.replace('"firstName":"first', '"firstName":"changed') : line;
    if (!out.write(`${changed}\n`)) await new Promise((resolve) => out.once('drain', resolve));
    i += 1;
  }
  await new Promise((resolve) => out.end(resolve));
}

function describe(label, run) {
  const summary = JSON.parse(run.stdout);
  console.log(
    `${label}: exit ${run.code}, ${summary.delivered.toLocaleString('en')} delivered, ${summary.unchanged.toLocaleString('en')} unchanged, ` +
      `${summary.requests} requests, wall ${(run.wallMs / 1000).toFixed(1)} s, peak RSS ${Math.round(run.peak.rss / 1024)} MB ` +
      `(anonymous ${Math.round(run.peak.anon / 1024)} MB, file-backed ${Math.round(run.peak.file / 1024)} MB: node itself and the mapped state)`,
  );
  return summary;
}

/** npm run bench state: the incremental push of a million profiles with 1% changed, next to the full push. */
export async function stateBenchmarks() {
  if (process.env.BENCH_BIN_BEFORE) return compareIncremental(process.env.BENCH_BIN_BEFORE, BIN);
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-state-'));
  const state = join(dir, 'state');
  try {
    const file = join(dir, 'profiles-1m.ndjson');
    const changed = join(dir, 'profiles-1m-1pct.ndjson');
    await writeProfiles(file, N);
    const allChanged = join(dir, 'profiles-1m-all.ndjson');
    await changeEvery(100, file, changed);
    await changeEvery(1, file, allChanged);
    console.log(`\n## incremental push: ${N.toLocaleString('en')} profiles, --batch-size ${BATCH}, --rate ${RATE}, state in LMDB`);
    const mock = await startMock(['--rate', String(RATE), '--max-batch', String(BATCH)]);
    const push = (input) =>
      sampled(['push', input, '--downstream-url', mock.url, '--batch-size', String(BATCH), '--rate', String(RATE), '--json', '--quiet', '--dead-letter', join(dir, 'dl.ndjson'), '--state', state]);
    try {
      describe(`full push (state empty; floor ${((N / BATCH - 1) / RATE).toFixed(1)} s of sending)`, await push(file));
      describe('same file again (nothing changed)', await push(file));
      describe('1% changed (10,000 profiles)', await push(changed));
    } finally {
      mock.stop();
    }

    console.log(`\n## validation rate with and without the state lookup (--dry-run of ${N.toLocaleString('en')} profiles)`);
    const rates = [];
    // The state was filled for the mock's URL: a dry run naming it reads that state.
    const platformUrl = mock.url;
    for (const [label, extra, input = changed] of [
      ['no state (no --downstream-url)', []],
      ['1% changed: text lookup skips validation for 99%', ['--downstream-url', platformUrl, '--state', state]],
      ['every profile changed: lookup + validation + digest', ['--downstream-url', platformUrl, '--state', state], allChanged],
    ]) {
      let best = 0;
      for (let i = 0; i < 3; i++) {
        const run = await sampled(['push', input, '--dry-run', '--json', '--quiet', ...extra]);
        const summary = JSON.parse(run.stdout);
        best = Math.max(best, (summary.valid * 1000) / summary.durationMs);
      }
      rates.push(best);
      console.log(`${label}: ${Math.round(best).toLocaleString('en')} profiles/s (best of 3)`);
    }
    const cost = (rate) => `${((1 - rate / rates[0]) * 100).toFixed(1)}%`;
    console.log(`against the validation rate without state: 1% changed ${cost(rates[1])}, worst case ${cost(rates[2])} (target: a cost ≤ 20%)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const range = (values, digits = 1) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/**
 * The incremental push (1M, 1% changed, state of 1M) by two builds, alternated, BENCH_RUNS rounds
 * (3): each run on a fresh copy of one state, filled once by a full push at a high rate (the
 * state is keyed by the platform's URL, so the mock keeps one port: BENCH_STATE_PORT). The files
 * and the filled state are kept in BENCH_STATE_DIR when it is given, so they can be prepared
 * ahead of a measurement (generating and filling take minutes).
 */
async function compareIncremental(before, after) {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  // BENCH_STATE_INPUT=same: the file the state was filled from again (nothing changed), instead of the 1% change.
  const same = process.env.BENCH_STATE_INPUT === 'same';
  const port = process.env.BENCH_STATE_PORT ?? '47311';
  const kept = process.env.BENCH_STATE_DIR;
  const dir = kept ?? mkdtempSync(join(tmpdir(), 'sync-bench-state-'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'profiles-1m.ndjson');
  const changed = join(dir, 'profiles-1m-1pct.ndjson');
  const filled = join(dir, 'state-filled');
  const url = `http://127.0.0.1:${port}`;
  const push = (input, state, rate, bin) =>
    sampled(['push', input, '--downstream-url', url, '--batch-size', String(BATCH), '--rate', String(rate), '--json', '--quiet', '--dead-letter', join(dir, 'dl.ndjson'), '--state', state], bin);
  try {
    if (!existsSync(changed)) {
      await writeProfiles(file, N);
      await changeEvery(100, file, changed);
    }
    if (!existsSync(filled)) {
      const fast = await startMock(['--port', port, '--rate', '1000', '--max-batch', String(BATCH)]);
      try {
        describe(`filling the state once (${before}, rate 1000)`, await push(file, filled, 1000, before));
      } finally {
        await fast.stop();
      }
    }
    console.log(`\n## incremental push, ${N.toLocaleString('en')} profiles, ${same ? 'nothing' : '1%'} changed, state of ${N.toLocaleString('en')}: two builds alternated, ${runs} runs each`);
    console.log(`before: ${before}\nafter:  ${after}`);
    const mock = await startMock(['--port', port, '--rate', String(RATE), '--max-batch', String(BATCH)]);
    const walls = { before: [], after: [] };
    try {
      for (let round = 0; round < runs; round++) {
        for (const [label, bin] of [['before', before], ['after', after]]) {
          const state = join(dir, 'state-run');
          rmSync(state, { recursive: true, force: true });
          cpSync(filled, state, { recursive: true });
          const loadBefore = load();
          const run = await push(same ? file : changed, state, RATE, bin);
          walls[label].push(run.wallMs / 1000);
          describe(`${label} (round ${round + 1}, load ${loadBefore} → ${load()})`, run);
        }
      }
    } finally {
      await mock.stop();
    }
    const ratios = walls.after.map((wall, i) => wall / walls.before[i]);
    console.log(`before ${range(walls.before)} s, after ${range(walls.after)} s; after / before, round by round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (target: after ≤ 5 s)`);
  } finally {
    rmSync(join(dir, 'state-run'), { recursive: true, force: true });
    if (!kept) rmSync(dir, { recursive: true, force: true });
  }
}
