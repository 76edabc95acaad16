import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// BENCH_BIN: another build's bin/sync.js (e.g. main's), to measure before and after on the same machine state.
export const BIN = process.env.BENCH_BIN ?? fileURLToPath(new URL('../bin/sync.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** Writes N distinct, valid profiles as NDJSON (streamed: the generator holds no array). */
export async function writeProfiles(path, count, prefix = 'user') {
  const out = createWriteStream(path);
  for (let i = 0; i < count; i++) {
    const line = `{"email":"${prefix}${i}@example.com","firstName":"first${i % 997}","lastName":"last-name${i % 991}","metadata":{"tags":["t${i % 7}"],"preferences":{"channel":"email"}}}\n`;
    if (!out.write(line)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve) => out.end(resolve));
}

/** Spawns `sync …` under /usr/bin/time for peak RSS; resolves with exit code, stdout, stderr, wall ms and max RSS (KB). */
export function timed(args, env = {}) {
  return timedNode([BIN, ...args], { env });
}

/** `node ARGS` under /usr/bin/time (peak RSS), held to `cpu` by taskset if given: what `timed` resolves with. */
export function timedNode(args, { env = {}, cpu } = {}) {
  const command = ['/usr/bin/time', '-f', 'RSS_KB=%M', process.execPath, ...args];
  const [file, ...rest] = cpu === undefined ? command : ['taskset', '-c', String(cpu), ...command];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const spawnedAt = Date.now();
    const child = spawn(file, rest, {
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
      resolve({ code, stdout, wallMs: performance.now() - started, spawnedAt, exitedAt: Date.now(), rssKb: rss ? Number(rss[1]) : undefined, stderr });
    });
  });
}

/** `sync mock downstream` with debug logs on stderr: one `arrival` line per request, with its Idempotency-Key. */
export function startMock(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'mock', 'downstream', '--port', '0', '--log-format', 'json', '--verbose', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+)/.exec(String(chunk));
      if (match) {
        resolve({
          url: match[1],
          arrivals: () => jsonLines(stderr).filter((l) => l.msg === 'arrival'),
          stop: () => new Promise((done) => (child.once('close', done), child.kill('SIGTERM'))),
        });
      }
    });
    child.on('error', reject);
  });
}

/** Another process keeping one core busy, as a cron box running something else would. */
export function busyCore() {
  const child = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  return () => child.kill('SIGKILL');
}

function jsonLines(text) {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        return undefined;
      }
    })
    .filter(Boolean);
}

function quantiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return sorted.length === 0 ? 'n/a' : `p50 ${at(0.5)} · p99 ${at(0.99)} · max ${sorted.at(-1)}`;
}

/**
 * Where the time between a grant and the platform goes: grant → body serialized → written to the
 * socket (push's debug `request` lines) → counted by the platform (the mock's `arrival` lines).
 */
function timeline(pushStderr, arrivals) {
  const requests = jsonLines(pushStderr).filter((l) => l.departedAt !== undefined);
  const arrivedAt = new Map();
  const seen = new Map();
  for (const a of arrivals) {
    // Retries carry the same key: match them in order.
    const n = (seen.get(a.key) ?? 0) + 1;
    seen.set(a.key, n);
    arrivedAt.set(`${a.key}#${n}`, a.arrivedAt);
  }
  const body = [];
  const wire = [];
  const late = [];
  const transit = [];
  for (const r of requests) {
    body.push(r.bodyReadyAt - r.grantedAt);
    wire.push(r.departedAt - r.bodyReadyAt);
    late.push(r.departedAt - r.notBefore);
    const arrived = arrivedAt.get(`${r.batchId}#${r.attempt}`);
    if (arrived !== undefined) transit.push(arrived - r.departedAt);
  }
  return { body: quantiles(body), wire: quantiles(wire), late: quantiles(late), transit: quantiles(transit) };
}

/** The scenario: 100,000 profiles, batch 1,000, rate 5, a mock with 150 ms latency that counts arrivals strictly. */
async function deliveryRun(dir, { busy }) {
  const n = 100_000;
  const batch = 1000;
  const rate = 5;
  const latency = 150;
  const file = join(dir, 'profiles-100k.ndjson');
  await writeProfiles(file, n);
  const floorMs = ((Math.ceil(n / batch) - 1) / rate) * 1000 + latency;
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`\n## push of ${n.toLocaleString('en')} profiles, --batch-size ${batch}, --rate ${rate}, mock downstream with ${latency} ms latency, ${busy ? 'one core kept busy by another process' : 'idle machine'} (${RUNS} runs)`);
  console.log(`floor (${Math.ceil(n / batch)} requests − 1) / ${rate} s + ${latency} ms = ${floorMs} ms`);
  const efficiencies = [];
  const walls = [];
  let over = 0;
  let overArrivals = 0;
  let tooMany = 0;
  const loadBefore = load();
  for (let run = 1; run <= RUNS; run++) {
    const stopBusy = busy ? busyCore() : undefined;
    const mock = await startMock(['--rate', String(rate), '--max-batch', String(batch), '--latency', String(latency)]);
    try {
      const result = await timed(['push', file, '--downstream-url', mock.url, '--batch-size', String(batch), '--rate', String(rate), '--json', '--verbose', '--log-format', 'json', '--dead-letter', join(dir, 'dl.ndjson'), '--state', mkdtempSync(join(dir, 'state-'))]);
      const summary = JSON.parse(result.stdout);
      const stats = await (await fetch(`${mock.url}/stats`)).json();
      const t = timeline(result.stderr, mock.arrivals());
      // The user's wait: from the process's start to its exit (Node's start-up and the state's
      // opening and closing included), against the floor of the sending alone.
      const efficiency = floorMs / result.wallMs;
      efficiencies.push(efficiency);
      walls.push(result.wallMs);
      const arrivals = mock.arrivals().map((a) => a.arrivedAt);
      // As the mock counts: an arrival with more than `rate` arrivals in the 1000 ms up to it (itself included).
      const overHere = arrivals.filter((at, i) => arrivals.slice(0, i + 1).filter((before) => before > at - 1000).length > rate).length;
      overArrivals += overHere;
      tooMany += stats.rateLimited;
      if (stats.maxRequestsPerSecond > rate || stats.rateLimited > 0) over += 1;
      const first = Math.min(...arrivals);
      const last = Math.max(...arrivals);
      console.log(
        `run ${run}: exit ${result.code}, delivered ${summary.delivered.toLocaleString('en')}, ${summary.requests} requests, ${summary.rateLimited} × 429 | ` +
          `platform: max ${stats.maxRequestsPerSecond} in any 1000 ms, ${overHere} arrivals over the limit, ${stats.rateLimited} × 429 | ` +
          `wall ${Math.round(result.wallMs)} ms (run's own ${summary.durationMs} ms) → efficiency ${efficiency.toFixed(3)} | RSS ${Math.round(result.rssKb / 1024)} MB`,
      );
      console.log(
        `       start → first arrival ${first - result.spawnedAt} ms | first → last arrival ${last - first} ms (${((last - first) / (arrivals.length - 1)).toFixed(1)} ms apart; ${(1000 / rate).toFixed(0)} at the floor) | ` +
          `last arrival → exit ${result.exitedAt - last} ms (the answer's ${latency} ms included)`,
      );
      console.log(`       grant → body ready ${t.body} ms | body → socket ${t.wire} ms | socket later than planned ${t.late} ms | socket → counted by the platform ${t.transit} ms`);
    } finally {
      await mock.stop();
      stopBusy?.();
    }
  }
  const range = (values, digits) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
  console.log(
    `${busy ? 'busy' : 'idle'}: ${over} of ${RUNS} runs over the limit (${overArrivals} arrivals over it, ${tooMany} × 429 in all); wall ${range(walls.map((w) => w / 1000), 2)} s against the floor ${(floorMs / 1000).toFixed(2)} s, ` +
      `efficiency ${range(efficiencies, 3)} (start included) | load average ${loadBefore} before, ${load()} after`,
  );
}

export async function pushBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-push-'));
  try {
    const only = process.env.BENCH_PUSH;
    if (!only || only === 'idle') await deliveryRun(dir, { busy: false });
    if (!only || only === 'busy') await deliveryRun(dir, { busy: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
