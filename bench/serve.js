import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/sync.js', import.meta.url));

function start(args, bin = BIN) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+)/.exec(String(chunk));
      if (match) resolve({ url: match[1], child, stop: () => new Promise((done) => (child.once('close', done), child.kill('SIGTERM'))) });
    });
    child.on('error', reject);
  });
}

/** CPU seconds used so far and resident memory of a process, from /proc. */
function sample(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return { cpuSeconds: ticks / 100, rssKb: rss };
}

/** Upper bound of the histogram bucket holding quantile q, for answers with status 200. */
function histogramQuantile(text, name, q) {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",status="200"\\} (\\d+)$`, 'gm'))].map((m) => [Number(m[1]), Number(m[2])]);
  const total = buckets.at(-1)?.[1] ?? 0;
  return buckets.find(([, count]) => count >= q * total)?.[0] ?? NaN;
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Open loop: request i leaves at i/rate seconds whether or not earlier ones have answered. */
async function openLoop(url, rate, seconds) {
  // Enough keep-alive sockets for rate × latency in flight; a request finding none free waits in the
  // agent, and that wait counts in its latency (the schedule stays open-loop).
  const agent = new Agent({ keepAlive: true, maxSockets: 2000 });
  const total = rate * seconds;
  const latencies = [];
  const statuses = {};
  let sent = 0;
  let done = 0;
  const started = performance.now();
  await new Promise((resolve) => {
    const fire = (i) => {
      const body = JSON.stringify({ email: `load${i}.${Date.now()}@example.com`, firstName: 'Load', lastName: `Test${i}` });
      const t0 = performance.now();
      const req = request(`${url}/profiles`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - t0);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (++done === total) resolve();
        });
      });
      req.on('error', () => {
        statuses.error = (statuses.error ?? 0) + 1;
        if (++done === total) resolve();
      });
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      while (sent < due) fire(sent++);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { total, statuses, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1), sendMs: performance.now() - started };
}

async function scenario(rate, maxBatch, seconds = 20) {
  console.log(`\n## serve at ${rate} submissions/s for ${seconds} s (platform: 5 req/s, 80 ms latency, max batch ${maxBatch})`);
  const platform = await start(['mock', 'downstream', '--port', '0', '--rate', '5', '--latency', '80', '--max-batch', String(maxBatch)]);
  const serve = await start(['serve', '--port', '0', '--downstream-url', platform.url, '--batch-size', String(maxBatch), '--log-format', 'json', ...(process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean)]);
  try {
    const before = sample(serve.child.pid);
    let peakRss = before.rssKb;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, sample(serve.child.pid).rssKb)), 250);
    const result = await openLoop(serve.url, rate, seconds);
    clearInterval(sampler);
    const after = sample(serve.child.pid);
    const stats = await (await fetch(`${platform.url}/stats`)).json();
    const serverP99 = histogramQuantile(await (await fetch(`${serve.url}/metrics`)).text(), 'sync_caller_wait_seconds', 0.99);
    const ok = result.statuses[200] ?? 0;
    console.log(`answers: ${JSON.stringify(result.statuses)} → ${ok} of ${result.total} forwarded`);
    console.log(`latency p50 ${result.p50.toFixed(0)} ms · p99 ${result.p99.toFixed(0)} ms · max ${result.max.toFixed(0)} ms (floor ≈ one slot 200 ms + 80 ms)`);
    console.log(`server-side wait (its /metrics histogram): p99 ≤ ${serverP99 * 1000} ms`);
    console.log(`platform: at most ${stats.maxRequestsPerSecond} requests in any 1000 ms (limit 5), ${stats.rateLimited} × 429, accepted ${stats.accepted}`);
    console.log(`server: CPU ${(((after.cpuSeconds - before.cpuSeconds) / (result.sendMs / 1000)) * 100).toFixed(0)}% of one core, peak RSS ${Math.round(peakRss / 1024)} MB`);
  } finally {
    await serve.stop();
    await platform.stop();
  }
}

export async function serveBenchmarks() {
  await scenario(500, 1000);
  await scenario(5000, 2000);
}

/**
 * Closed loop under wrk (a C generator: it leaves the CPU to the server, which the Node generator
 * above cannot on two cores). Each of WRK_CONNECTIONS (1500) connections posts a new profile as
 * soon as its previous one is answered, for WRK_DURATION (15s). Needs `wrk` on PATH (Debian: wrk).
 */
export async function serveWrkBenchmark() {
  const connections = process.env.WRK_CONNECTIONS ?? '1500';
  const duration = process.env.WRK_DURATION ?? '15s';
  console.log(`\n## serve under wrk: ${connections} connections for ${duration} (platform: 5 req/s, 80 ms latency, max batch 2000)`);
  const platform = await start(['mock', 'downstream', '--port', '0', '--rate', '5', '--latency', '80', '--max-batch', '2000']);
  const serve = await start(['serve', '--port', '0', '--downstream-url', platform.url, '--batch-size', '2000', '--log-format', 'json']);
  try {
    const before = sample(serve.child.pid);
    const started = performance.now();
    const script = fileURLToPath(new URL('wrk-post.lua', import.meta.url));
    const output = await new Promise((resolve, reject) => {
      const wrk = spawn('wrk', ['-t2', `-c${connections}`, `-d${duration}`, '--timeout', '10s', '--latency', '-s', script, `${serve.url}/profiles`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      wrk.stdout.on('data', (chunk) => (text += chunk));
      wrk.on('error', reject);
      wrk.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}`))));
    });
    const after = sample(serve.child.pid);
    const seconds = (performance.now() - started) / 1000;
    const stats = await (await fetch(`${platform.url}/stats`)).json();
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    const answers = Object.fromEntries([...metrics.matchAll(/^sync_caller_wait_seconds_count\{status="(\d+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    const line = (pattern) => pattern.exec(output)?.[0].trim().replace(/\s+/g, ' ') ?? '(none)';
    console.log(`${line(/Requests\/sec:.*/)} · latency ${line(/^\s+50%.*$/m)} · ${line(/^\s+99%.*$/m)} · ${line(/\d+ requests in .*/)}`);
    console.log(`errors: ${line(/Socket errors:.*/)} · ${line(/Non-2xx.*/)}`);
    console.log(`server answers by status (its /metrics): ${JSON.stringify(answers)}; server-side p99 ≤ ${histogramQuantile(metrics, 'sync_caller_wait_seconds', 0.99) * 1000} ms`);
    console.log(`platform: at most ${stats.maxRequestsPerSecond} requests in any 1000 ms (limit 5), ${stats.rateLimited} × 429, accepted ${stats.accepted}`);
    // CPU per answer holds still when other processes take the cores; requests/s and p99 do not.
    const answered = Object.values(answers).reduce((sum, n) => sum + n, 0);
    const cpu = after.cpuSeconds - before.cpuSeconds;
    console.log(`server: CPU ${((cpu / seconds) * 100).toFixed(0)}% of one core, ${((cpu * 1e6) / answered).toFixed(0)} µs of CPU per answer, RSS ${Math.round(after.rssKb / 1024)} MB at the end`);
  } finally {
    await serve.stop();
    await platform.stop();
  }
}

const BASELINE = fileURLToPath(new URL('baselines/minimal-serve.js', import.meta.url));

/** Starts `node SCRIPT ARGS` and waits for its `listening URL` line (the baseline speaks like serve). */
function startScript(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+)/.exec(String(chunk));
      if (match) resolve({ url: match[1], child, stop: () => new Promise((done) => (child.once('close', done), child.kill('SIGTERM'))) });
    });
    child.on('error', reject);
  });
}

/** wrk's latency figure ("1.23s", "850.12ms", "95.00us", "1.10m") in milliseconds. */
function wrkMs(text) {
  const match = /([\d.]+)(us|ms|s|m)\b/.exec(text ?? '');
  if (!match) return NaN;
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2]];
}

function runWrk(url, connections, duration) {
  const script = fileURLToPath(new URL('wrk-post.lua', import.meta.url));
  return new Promise((resolve, reject) => {
    const wrk = spawn('wrk', ['-t2', `-c${connections}`, `-d${duration}`, '--timeout', '10s', '--latency', '-s', script, `${url}/profiles`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    wrk.stdout.on('data', (chunk) => (text += chunk));
    wrk.on('error', reject);
    wrk.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}`))));
  });
}

/** One server (ours or the baseline) under wrk against a fresh downstream mock: its figures. */
async function measureUnderWrk(label, startServer, connections, duration) {
  const platform = await start(['mock', 'downstream', '--port', '0', '--rate', '5', '--latency', '80', '--max-batch', '2000']);
  const server = await startServer(platform.url);
  try {
    const before = sample(server.child.pid);
    const started = performance.now();
    const output = await runWrk(server.url, connections, duration);
    const after = sample(server.child.pid);
    const seconds = (performance.now() - started) / 1000;
    const stats = await (await fetch(`${platform.url}/stats`)).json();
    const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
    const socketErrors = /Socket errors:.*/.exec(output)?.[0] ?? 'Socket errors: none';
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const figures = {
      label,
      answersPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN),
      p50Ms: wrkMs(/^\s+50%\s+(\S+)/m.exec(output)?.[1]),
      p99Ms: wrkMs(/^\s+99%\s+(\S+)/m.exec(output)?.[1]),
      // Per answer wrk received (it counts completed requests); the process's own utime + stime.
      cpuUsPerAnswer: (cpu * 1e6) / requests,
      cpuShare: cpu / seconds,
      rssMb: Math.round(after.rssKb / 1024),
      requests,
      non2xx,
      socketErrors,
      overLimit: Math.max(0, stats.maxRequestsPerSecond - 5),
      rateLimited: stats.rateLimited,
      accepted: stats.accepted,
      // Downstream requests (batches): a slot left unused shows here, against 5 per second.
      batches: stats.requests,
    };
    console.log(
      `${label.padEnd(8)} ${figures.answersPerSecond.toFixed(0).padStart(6)} answers/s · p50 ${figures.p50Ms.toFixed(0)} ms · p99 ${figures.p99Ms.toFixed(0)} ms · ` +
        `${figures.cpuUsPerAnswer.toFixed(0)} µs CPU/answer (${(figures.cpuShare * 100).toFixed(0)}% of a core) · RSS ${figures.rssMb} MB · ` +
        `${requests} answers, ${non2xx} non-2xx, ${socketErrors} · platform: ${stats.requests} batches (${(stats.requests / seconds).toFixed(1)}/s), max ${stats.maxRequestsPerSecond}/1000 ms, ${stats.rateLimited} × 429, accepted ${stats.accepted}`,
    );
    return figures;
  } finally {
    await server.stop();
    await platform.stop();
  }
}

/**
 * `sync serve` against the minimal baseline (bench/baselines/minimal-serve.js), one after the other
 * in the same run, under wrk at each of WRK_CONNECTIONS_LIST (1500,3000) connections for
 * WRK_DURATION (12s) each; prints the ratios ours/baseline. BENCH_SERVE_ARGS adds flags to ours
 * (e.g. --quiet). BENCH_SERVE_BEFORE=path/to/bin/sync.js (another build, e.g. main's) is measured
 * too, between ours and the baseline, for a before/after under the same load; several builds may be
 * given, comma-separated, each as `label=path` or a path (labelled before, before2, …), each
 * printed against the baseline and against ours. BENCH_SERVE_ROUNDS (1) repeats the whole
 * sequence. Needs `wrk` on PATH.
 */
export async function serveBaselineBenchmark() {
  const levels = (process.env.WRK_CONNECTIONS_LIST ?? '1500,3000').split(',').map(Number);
  const duration = process.env.WRK_DURATION ?? '12s';
  const rounds = Number(process.env.BENCH_SERVE_ROUNDS ?? 1);
  const others = (process.env.BENCH_SERVE_BEFORE ?? '')
    .split(',')
    .filter(Boolean)
    .map((entry, i) => {
      const eq = entry.indexOf('=');
      return eq > 0 ? { label: entry.slice(0, eq), bin: entry.slice(eq + 1) } : { label: i === 0 ? 'before' : `before${i + 1}`, bin: entry };
    });
  const extra = (process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean);
  const serveArgs = (downstream) => ['serve', '--port', '0', '--downstream-url', downstream, '--batch-size', '2000', '--log-format', 'json', ...extra];
  const ours = (downstream) => start(serveArgs(downstream));
  const baseline = (downstream) => startScript(BASELINE, ['--port', '0', '--downstream-url', downstream, '--rate', '5', '--batch-size', '2000']);
  const ratio = (x, y) => (x / y).toFixed(2);
  const versus = (a, b) =>
    `${a.label}/${b.label}: throughput ${ratio(a.answersPerSecond, b.answersPerSecond)}× · p99 ${ratio(a.p99Ms, b.p99Ms)}× · CPU per answer ${ratio(a.cpuUsPerAnswer, b.cpuUsPerAnswer)}×`;
  console.log(`load average at the start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (let round = 1; round <= rounds; round++) {
    for (const connections of levels) {
      console.log(`\n## serve vs minimal baseline under wrk: ${connections} connections for ${duration} each (platform: 5 req/s, 80 ms latency, batch 2000)${rounds > 1 ? `, round ${round} of ${rounds}` : ''}`);
      const a = await measureUnderWrk('sync', ours, connections, duration);
      const measured = [];
      for (const { label, bin } of others) measured.push(await measureUnderWrk(label, (downstream) => start(serveArgs(downstream), bin), connections, duration));
      const b = await measureUnderWrk('baseline', baseline, connections, duration);
      console.log(
        `${versus(a, b)} · arrivals over the limit: sync ${a.overLimit} (${a.rateLimited} × 429), ` +
          `${measured.map((p) => `${p.label} ${p.overLimit} (${p.rateLimited} × 429), `).join('')}baseline ${b.overLimit} (${b.rateLimited} × 429)`,
      );
      for (const p of measured) console.log(`${versus(p, b)}\n${versus(a, p)}`);
    }
  }
  console.log(`\nload average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}
