import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMock, timed, writeProfiles } from './push.js';

const PROCESSES = Number(process.env.BENCH_QUOTA_PROCESSES ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** N pushes at once sharing one quota through Redis against one platform: combined efficiency vs requests / rate. */
export async function quotaBenchmarks() {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) {
    console.log('\n## shared quota: SKIPPED (redis-server not installed)');
    return;
  }
  const perProcess = Number(process.env.BENCH_QUOTA_PROFILES ?? 40_000);
  const batch = 1000;
  const rate = 5;
  const latency = 150;
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-quota-'));
  const redis = await startRedis();
  try {
    const files = [];
    for (let p = 0; p < PROCESSES; p++) {
      files.push(join(dir, `p${p}.ndjson`));
      await writeProfiles(files[p], perProcess, `p${p}-`);
    }
    const requests = PROCESSES * Math.ceil(perProcess / batch);
    const floorMs = ((requests - 1) / rate) * 1000 + latency;
    console.log(`\n## shared quota: ${PROCESSES} pushes at once, ${perProcess.toLocaleString('en')} profiles each, --batch-size ${batch} --rate ${rate} --redis-url, one mock platform (--rate ${rate}, ${latency} ms latency), ${RUNS} runs`);
    console.log(`floor: (${requests} requests − 1) / ${rate} s + ${latency} ms = ${floorMs} ms`);
    // Production Redis remembers the recent past (the store's marker lives a day); a new store
    // first holds everyone for one window. Warm it once so the runs measure steady state.
    {
      const mock = await startMock(['--rate', String(rate)]);
      await writeProfiles(join(dir, 'warm.ndjson'), 1, 'warm');
      await timed(['push', join(dir, 'warm.ndjson'), '--downstream-url', mock.url, '--redis-url', redis.url, '--quota-key', 'bench', '--quiet', '--dead-letter', join(dir, 'dl-warm'), '--state', mkdtempSync(join(dir, 'state-'))]);
      await mock.stop();
    }
    const efficiencies = [];
    for (let run = 1; run <= RUNS; run++) {
      const mock = await startMock(['--rate', String(rate), '--max-batch', String(batch), '--latency', String(latency)]);
      try {
        const started = performance.now();
        const results = await Promise.all(
          files.map((file, p) =>
            timed(['push', file, '--downstream-url', mock.url, '--batch-size', String(batch), '--rate', String(rate), '--redis-url', redis.url, '--quota-key', 'bench', '--json', '--log-format', 'json', '--dead-letter', join(dir, `dl${p}`), '--state', mkdtempSync(join(dir, 'state-'))]),
          ),
        );
        const wallMs = performance.now() - started;
        const stats = await (await fetch(`${mock.url}/stats`)).json();
        const summaries = results.map((r) => JSON.parse(r.stdout));
        const arrivals = mock.arrivals().map((a) => a.arrivedAt);
        const spanMs = arrivals.at(-1) - arrivals[0];
        // Each run's own span (as push's durationMs, without Node's start-up): its closing log line's
        // time minus its duration. Combined: the first run's start to the last run's end.
        const spans = results.map((r, p) => {
          const finished = r.stderr.split('\n').filter((l) => l.includes('"run finished"')).map((l) => JSON.parse(l))[0];
          const end = Date.parse(finished.time);
          return { start: end - summaries[p].durationMs, end };
        });
        const runMs = Math.max(...spans.map((x) => x.end)) - Math.min(...spans.map((x) => x.start));
        const efficiency = floorMs / runMs;
        efficiencies.push(efficiency);
        console.log(
          `run ${run}: exits ${results.map((r) => r.code).join(',')}, delivered ${summaries.reduce((s, x) => s + x.delivered, 0).toLocaleString('en')} in ${stats.requests} requests | ` +
            `platform: max ${stats.maxRequestsPerSecond} in any 1000 ms, ${stats.rateLimited} × 429 | runs span ${runMs} ms (per process ${summaries.map((s) => s.durationMs).join(', ')} ms; ${Math.round(wallMs)} ms with Node's start-up) → combined efficiency ${efficiency.toFixed(3)} (${(floorMs / wallMs).toFixed(3)} with start-up); first to last arrival ${spanMs} ms (${(spanMs / (arrivals.length - 1)).toFixed(1)} ms apart on average, ${((1000 / rate) * (arrivals.length - 1) / spanMs).toFixed(3)} of the rate)`,
        );
      } finally {
        await mock.stop();
      }
    }
    console.log(`shared quota: combined efficiency ${Math.min(...efficiencies).toFixed(3)}–${Math.max(...efficiencies).toFixed(3)} (target ≥ 0.9)`);
  } finally {
    redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
