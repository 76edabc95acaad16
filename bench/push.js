import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/sync.js', import.meta.url));

/** Writes N distinct, valid profiles as NDJSON (streamed: the generator holds no array). */
export async function writeProfiles(path, count) {
  const out = createWriteStream(path);
  for (let i = 0; i < count; i++) {
    const line = `{"email":"user${i}@example.com","firstName":"first${i % 997}","lastName":"last-name${i % 991}","metadata":{"tags":["t${i % 7}"],"preferences":{"channel":"email"}}}\n`;
    if (!out.write(line)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve) => out.end(resolve));
}

/** Spawns `sync …` under /usr/bin/time for peak RSS; resolves with exit code, stdout, wall ms and max RSS (KB). */
export function timed(args, env = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'RSS_KB=%M', process.execPath, BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const rss = /RSS_KB=(\d+)/.exec(stderr);
      resolve({ code, stdout, wallMs: performance.now() - started, rssKb: rss ? Number(rss[1]) : undefined, stderr });
    });
  });
}

export function startMock(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'mock', 'downstream', '--port', '0', '--log-format', 'json', '--quiet', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+)/.exec(String(chunk));
      if (match) resolve({ url: match[1], stop: () => child.kill('SIGTERM') });
    });
    child.on('error', reject);
  });
}

async function deliveryRun(dir) {
  const n = 100_000;
  const batch = 1000;
  const rate = 5;
  const latency = 150;
  const file = join(dir, 'profiles-100k.ndjson');
  await writeProfiles(file, n);
  console.log(`\n## push of ${n.toLocaleString('en')} profiles, --batch-size ${batch}, --rate ${rate}, mock downstream with ${latency} ms latency`);
  const mock = await startMock(['--rate', String(rate), '--max-batch', String(batch), '--latency', String(latency)]);
  try {
    const run = await timed(['push', file, '--downstream-url', mock.url, '--batch-size', String(batch), '--rate', String(rate), '--json', '--quiet', '--dead-letter', join(dir, 'dl.ndjson')]);
    const summary = JSON.parse(run.stdout);
    const stats = await (await fetch(`${mock.url}/stats`)).json();
    const floorMs = ((Math.ceil(n / batch) - 1) / rate) * 1000 + latency;
    console.log(`exit ${run.code}: delivered ${summary.delivered.toLocaleString('en')} in ${summary.batches} batches, ${summary.requests} requests, ${summary.retries} retries, ${summary.rateLimited} rate-limited`);
    console.log(`run ${summary.durationMs} ms (process wall ${Math.round(run.wallMs)} ms) vs floor ${floorMs} ms → efficiency ${(floorMs / summary.durationMs).toFixed(3)}`);
    console.log(`mock saw at most ${stats.maxRequestsPerSecond} requests in any 1000 ms (limit ${rate}), answered ${stats.rateLimited} × 429, accepted ${stats.accepted.toLocaleString('en')}`);
    console.log(`push peak RSS ${Math.round(run.rssKb / 1024)} MB`);
  } finally {
    mock.stop();
  }
}

async function dryRun(dir) {
  const n = 1_000_000;
  const file = join(dir, 'profiles-1m.ndjson');
  await writeProfiles(file, n);
  console.log(`\n## push --dry-run of ${n.toLocaleString('en')} NDJSON profiles (validation only)`);
  const run = await timed(['push', file, '--dry-run', '--json', '--quiet']);
  const summary = JSON.parse(run.stdout);
  console.log(`exit ${run.code}: ${summary.valid.toLocaleString('en')} valid in ${summary.durationMs} ms → ${Math.round((summary.valid * 1000) / summary.durationMs).toLocaleString('en')} profiles/s`);
  console.log(`peak RSS ${Math.round(run.rssKb / 1024)} MB (target ≤ 150 MB)`);
}

export async function pushBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-push-'));
  try {
    await deliveryRun(dir);
    await dryRun(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
