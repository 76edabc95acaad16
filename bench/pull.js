import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../dist/engine/random.js';
import { close, listen } from '../dist/http/server.js';
import { createReqresMock, loadUsers } from '../dist/mock/reqres-server.js';

const BIN = fileURLToPath(new URL('../bin/sync.js', import.meta.url));

function pull(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'pull', '--json', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, summary: out ? JSON.parse(out) : undefined }));
  });
}

async function withMock(options, body) {
  const server = createReqresMock(options);
  const url = await listen(server, 0);
  try {
    return await body(`${url}/api`);
  } finally {
    await close(server);
  }
}

/** The brief's "20% of requests fail": the bundled fixtures, client-side --fault-rate 0.2, five seeds. */
async function flakySource(dir) {
  console.log('\n## pull of the fixtures with --fault-rate 0.2 (5 pages, 26 records), five seeds');
  console.log('seed  exit  requests  retries  rateLimited  exported  durationMs');
  const rows = [];
  await withMock({ users: loadUsers(), rate: 10, random: seededRandom(1) }, async (base) => {
    for (let seed = 1; seed <= 5; seed++) {
      const { code, summary: s } = await pull(['--base-url', base, '--fault-rate', '0.2', '--seed', String(seed), '--out', join(dir, 'c.json')]);
      rows.push(s);
      console.log(`${String(seed).padEnd(6)}${String(code).padEnd(6)}${String(s.requests).padEnd(10)}${String(s.retries).padEnd(9)}${String(s.rateLimited).padEnd(13)}${String(s.exported).padEnd(10)}${s.durationMs}`);
    }
  });
  const mean = (key) => (rows.reduce((sum, row) => sum + row[key], 0) / rows.length).toFixed(1);
  console.log(`mean  -     ${mean('requests').padEnd(10)}${mean('retries').padEnd(9)}${mean('rateLimited').padEnd(13)}${mean('exported').padEnd(10)}${mean('durationMs')}`);
}

/** Throughput against the limiter: 200 pages at --rate 50 cannot finish before (200 − 50) / 50 = 3 s. */
async function rateBound(dir) {
  const pages = 200;
  const rate = 50;
  const users = Array.from({ length: pages * 10 }, (_, i) => ({
    id: i + 1,
    email: `user${i + 1}@example.com`,
    first_name: 'Bench',
    last_name: `User${i + 1}`,
    avatar: 'https://example.com/a.png',
  }));
  console.log(`\n## pull of ${pages} pages at --rate ${rate} --concurrency 8, healthy source`);
  await withMock({ users, perPage: 10, rate: 0, random: Math.random }, async (base) => {
    const { code, summary } = await pull(['--base-url', base, '--rate', String(rate), '--concurrency', '8', '--out', join(dir, 'big.json')]);
    // The first `rate` grants are immediate, then one per 1/rate s: floor = (pages − rate) / rate.
    const floorMs = ((pages - rate) / rate) * 1000;
    console.log(`exit ${code}, ${summary.exported} customers, ${summary.requests} requests in ${summary.durationMs} ms`);
    console.log(`floor ${floorMs} ms → efficiency ${(floorMs / summary.durationMs).toFixed(3)} (1.0 = exactly at the rate limit)`);
  });
}

export async function pullBenchmarks() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-'));
  try {
    await flakySource(dir);
    await rateBound(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
