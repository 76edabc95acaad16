import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startMock, timed, writeProfiles } from './push.js';

const N = 1_000_000;
const BATCH = 1000;
const RATE = 5;

/** The same file with every 100th profile changed (1%). */
async function changeOnePercent(from, to) {
  const out = createWriteStream(to);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(from) })) {
    const changed = i % 100 === 0 ? line.replace('"firstName":"first', '"firstName":"changed') : line;
    if (!out.write(`${changed}\n`)) await new Promise((resolve) => out.once('drain', resolve));
    i += 1;
  }
  await new Promise((resolve) => out.end(resolve));
}

function describe(label, run) {
  const summary = JSON.parse(run.stdout);
  console.log(
    `${label}: exit ${run.code}, ${summary.delivered.toLocaleString('en')} delivered, ${summary.unchanged.toLocaleString('en')} unchanged, ` +
      `${summary.requests} requests, wall ${(run.wallMs / 1000).toFixed(1)} s, peak RSS ${Math.round(run.rssKb / 1024)} MB`,
  );
  return summary;
}

/** npm run bench state: the incremental push of a million profiles with 1% changed, next to the full push. */
export async function stateBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-state-'));
  const state = join(dir, 'state');
  try {
    const file = join(dir, 'profiles-1m.ndjson');
    const changed = join(dir, 'profiles-1m-1pct.ndjson');
    await writeProfiles(file, N);
    await changeOnePercent(file, changed);
    console.log(`\n## incremental push: ${N.toLocaleString('en')} profiles, --batch-size ${BATCH}, --rate ${RATE}, state in LMDB`);
    const mock = await startMock(['--rate', String(RATE), '--max-batch', String(BATCH)]);
    const push = (input) =>
      timed(['push', input, '--downstream-url', mock.url, '--batch-size', String(BATCH), '--rate', String(RATE), '--json', '--quiet', '--dead-letter', join(dir, 'dl.ndjson'), '--state', state]);
    try {
      describe(`full push (state empty; floor ${((N / BATCH - 1) / RATE).toFixed(1)} s of sending)`, await push(file));
      describe('same file again (nothing changed)', await push(file));
      describe('1% changed (10,000 profiles)', await push(changed));
    } finally {
      mock.stop();
    }

    console.log(`\n## validation rate with and without the state lookup (--dry-run of ${N.toLocaleString('en')} profiles)`);
    const rates = [];
    for (const [label, extra] of [
      ['no state (no --downstream-url)', []],
      ['state lookup for every profile', ['--downstream-url', 'http://127.0.0.1:9', '--state', state]],
    ]) {
      let best = 0;
      for (let i = 0; i < 3; i++) {
        const run = await timed(['push', changed, '--dry-run', '--json', '--quiet', ...extra]);
        const summary = JSON.parse(run.stdout);
        best = Math.max(best, (summary.valid * 1000) / summary.durationMs);
      }
      rates.push(best);
      console.log(`${label}: ${Math.round(best).toLocaleString('en')} profiles/s (best of 3)`);
    }
    console.log(`the lookup costs ${((1 - rates[1] / rates[0]) * 100).toFixed(1)}% of the validation rate (target ≤ 20%)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
