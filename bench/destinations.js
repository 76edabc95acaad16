// npm run bench destinations: each real platform's throughput against its floor, through its simulator,
// with the simulator's own count of what went over the platform's limits (it must be 0).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timed, writeProfiles } from './push.js';

const BIN = fileURLToPath(new URL('../bin/sync.js', import.meta.url));
const HUBSPOT_TOKEN = 'bench-token';
const MAILCHIMP_KEY = '0123456789abcdef0123456789abcdef-us21';
const ITERABLE_KEY = 'bench-iterable-key';
const BRAZE_KEY = 'bench-braze-rest-key';
const CUSTOMERIO_REQUEST_BYTES = 500_000;

/** Profiles whose Customer.io entries are about 1 KB (a mapped 900-byte note): the 500 KB a request, not the 1,000 entries, decides the batch. */
async function writeKilobyteProfiles(path, count) {
  const out = createWriteStream(path);
  const note = 'n'.repeat(900);
  for (let i = 0; i < count; i++) {
    const line = `{"email":"user${String(i).padStart(6, '0')}@example.com","firstName":"first","lastName":"last","metadata":{"tags":["t${i % 7}"],"note":"${note}"}}\n`;
    if (!out.write(line)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve) => out.end(resolve));
}

function startSimulator(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'mock', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+)/.exec(String(chunk));
      if (match) {
        resolve({
          url: match[1],
          stats: async () => (await fetch(`${match[1]}/__mock/stats`)).json(),
          stop: () => new Promise((done) => (child.once('close', done), child.kill('SIGTERM'))),
        });
      }
    });
    child.on('error', reject);
  });
}

const cases = [
  {
    name: 'hubspot',
    profiles: 6000,
    simulator: ['hubspot', '--latency', '80'],
    push: ['--to', 'hubspot'],
    env: { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN },
    // 10 requests/s × 100 contacts a request.
    floor: { perSecond: 10 * 100, why: 'rate 10/s × 100 a batch' },
    over: (s) => ({ 'in any 1000 ms (limit 10)': s.maxRequestsPerSecond, 'in any rolling 10 s (limit 100)': s.maxRequestsPer10s, '429s': s.rateLimited }),
    fine: (s) => s.maxRequestsPerSecond <= 10 && s.maxRequestsPer10s <= 100 && s.rateLimited === 0,
  },
  {
    name: 'mailchimp',
    profiles: 40_000,
    simulator: ['mailchimp', '--latency', '1500'],
    push: ['--to', 'mailchimp', '--list', 'a1b2c3d4e5', '--rate', '100'],
    env: { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY },
    // No per-second limit: 10 connections, each carrying 500 members per 1.5 s answer.
    floor: { perSecond: (10 * 500) / 1.5, why: '10 connections × 500 a batch ÷ 1.5 s latency' },
    over: (s) => ({ 'most connections open (limit 10)': s.maxConcurrent, '429s': s.tooManyConnections }),
    fine: (s) => s.maxConcurrent <= 10 && s.tooManyConnections === 0,
  },
  {
    name: 'customerio',
    profiles: 30_000,
    write: writeKilobyteProfiles,
    simulator: ['customerio', '--latency', '200'],
    push: ['--to', 'customerio', '--map', 'metadata.note=note'],
    env: { SYNC_DOWNSTREAM_TOKEN: 'bench-site:bench-key' },
    // 10 requests/s × as many of these equal entries as 500,000 bytes hold (the envelope and commas included).
    floor: (s) => {
      const perRequest = Math.floor((CUSTOMERIO_REQUEST_BYTES - '{"batch":[]}'.length + 1) / (s.maxEntryBytes + 1));
      return { perSecond: 10 * perRequest, why: `rate 10/s × ${perRequest} entries of ${s.maxEntryBytes} bytes in 500,000 bytes` };
    },
    bytes: (s, seconds) => `${(s.requestBytes / seconds / 1e6).toFixed(2)} MB/s of request bodies against ${((10 * CUSTOMERIO_REQUEST_BYTES) / 1e6).toFixed(2)} MB/s (10/s × 500,000 bytes)`,
    over: (s) => ({
      'largest request (limit 500,000 bytes)': s.maxRequestBytes,
      'largest entry (limit 32,000)': s.maxEntryBytes,
      'requests over': s.oversizedRequests,
      'entries over': s.oversizedEntries,
      'in any 1000 ms (limit 10)': s.maxRequestsPerSecond,
      '429s': s.rateLimited,
    }),
    fine: (s) => s.oversizedRequests === 0 && s.oversizedEntries === 0 && s.maxRequestBytes <= CUSTOMERIO_REQUEST_BYTES && s.maxRequestsPerSecond <= 10 && s.rateLimited === 0,
  },
  {
    name: 'iterable',
    profiles: 40_000,
    simulator: ['iterable', '--latency', '200', '--key', ITERABLE_KEY],
    push: ['--to', 'iterable'],
    env: { SYNC_DOWNSTREAM_TOKEN: ITERABLE_KEY },
    // 5 bulk updates/s per project × 1,000 users a request (a profile here is ~150 bytes: 4 MB never binds first).
    floor: { perSecond: 5 * 1000, why: 'rate 5/s × 1000 a batch' },
    over: (s) => ({
      'bulk updates in any 1000 ms (limit 5)': s.maxRequestsPerSecondPerKey,
      'most in flight (limit 5)': s.maxConcurrent,
      'largest request (limit 1000 users)': s.largestRequestUsers,
      'requests over 1000 users / 4 MB': s.overLimit.users + s.overLimit.bytes,
      '429s': s.rateLimited,
    }),
    fine: (s) => s.maxRequestsPerSecondPerKey <= 5 && s.maxConcurrent <= 5 && s.overLimit.users + s.overLimit.bytes === 0 && s.rateLimited === 0,
  },
  {
    name: 'braze',
    profiles: 6000,
    simulator: ['braze', '--latency', '80', '--key', BRAZE_KEY],
    push: ['--to', 'braze'],
    env: { SYNC_DOWNSTREAM_TOKEN: BRAZE_KEY },
    // 10 requests/s (the default; Braze itself takes 3,000 per 3 s) × 75 attribute objects a request.
    floor: { perSecond: 10 * 75, why: 'rate 10/s × 75 a batch' },
    over: (s) => ({
      'most objects in a request (limit 75)': s.maxObjectsPerRequest,
      'requests over 75 objects': s.overObjectLimit,
      'in any 1000 ms (rate 10)': s.maxRequestsPerSecond,
      'in any 3 s (limit 3000)': s.maxRequestsPer3s,
      '429s': s.rateLimited,
    }),
    fine: (s) => s.maxObjectsPerRequest <= 75 && s.overObjectLimit === 0 && s.maxRequestsPerSecond <= 10 && s.maxRequestsPer3s <= 3000 && s.rateLimited === 0,
  },
];

export async function destinationBenchmarks() {
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), `sync-bench-${c.name}-`));
    const sim = await startSimulator(c.simulator);
    try {
      const file = join(dir, 'profiles.ndjson');
      await (c.write ?? writeProfiles)(file, c.profiles);
      const run = await timed(['push', file, ...c.push, '--downstream-url', sim.url, '--dead-letter', join(dir, 'dl.ndjson'), '--json'], {
        ...c.env,
        SYNC_STATE_DIR: join(dir, 'state'),
      });
      const summary = JSON.parse(run.stdout || '{}');
      const stats = await sim.stats();
      const achieved = (summary.delivered ?? 0) / (run.wallMs / 1000);
      const floor = typeof c.floor === 'function' ? c.floor(stats) : c.floor;
      console.log(
        `${c.name}: ${summary.delivered}/${c.profiles} delivered in ${(run.wallMs / 1000).toFixed(1)} s (process start included): ` +
          `${Math.round(achieved)} profiles/s against a floor of ${Math.round(floor.perSecond)}/s (${floor.why}) = ${(achieved / floor.perSecond).toFixed(2)}×; ` +
          `peak RSS ${Math.round((run.rssKb ?? 0) / 1024)} MB`,
      );
      if (c.bytes) console.log(`  ${c.bytes(stats, run.wallMs / 1000)}`);
      console.log(`  at the platform: ${Object.entries(c.over(stats)).map(([what, n]) => `${what}: ${n}`).join(' · ')} → ${c.fine(stats) ? 'within its limits' : 'OVER ITS LIMITS'}`);
    } finally {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
