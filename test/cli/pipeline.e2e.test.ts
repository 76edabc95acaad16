import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportDocumentSchema, type Customer } from '../../src/pull/schemas.js';
import { BIN, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

/** The README's nightly job, word for word; `sync` is a shell function running bin/sync.js with node (it is not on PATH here). */
const NIGHTLY = 'sync pull --profiles - --out customers.json | sync push - --to hubspot --map metadata.customer_tier=tier';

const FIXTURE = new URL('../../fixtures/reqres/users.json', import.meta.url);
type User = { id: number; email?: unknown; first_name?: unknown; last_name?: unknown };

interface PipeRun {
  pull: number;
  push: number;
  /** The pipeline's own status under `set -o pipefail`. */
  pipeline: number;
  pushSummary: Record<string, number>;
  stderr: string;
}

/**
 * Runs NIGHTLY through bash in `dir`, as cron would run the README's line: a real pipe between two
 * processes, `set -o pipefail`, PIPESTATUS for each side. Bounded: killed after 30 s.
 */
function runNightly(dir: string, env: Record<string, string>): Promise<PipeRun> {
  const script = `set -o pipefail
sync() { "$NODE" "$SYNC_BIN" "$@"; }
${NIGHTLY}
codes="\${PIPESTATUS[*]} $?"
echo "codes $codes"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, CI: 'true', NO_COLOR: '1', NODE: process.execPath, SYNC_BIN: BIN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const codes = /^codes (\d+) (\d+) (\d+)$/m.exec(stdout);
      if (!codes) return reject(new Error(`no exit codes; stdout: ${stdout}\nstderr: ${stderr}`));
      // Not a TTY, so both sides log JSON lines; push's closing line carries its --json summary.
      const lines = stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
      const closing = lines.find((line) => line.msg === 'run finished' && line.summary?.total !== undefined);
      resolve({ pull: Number(codes[1]), push: Number(codes[2]), pipeline: Number(codes[3]), pushSummary: closing?.summary, stderr });
    });
  });
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe(`the nightly pipe: ${NIGHTLY}`, () => {
  const tmp = useTempDir();
  const servers: RunningServer[] = [];
  afterEach(async () => {
    const results = await Promise.all(servers.splice(0).map((server) => server.stop()));
    expect(results.map((r) => r.code)).toEqual(results.map(() => 0));
  });

  async function setUp(users: User[]) {
    const fixture = join(tmp(), 'users.json');
    writeFileSync(fixture, JSON.stringify(users));
    const source = await startServer(['mock', 'reqres', '--port', '0', '--fixture', fixture]);
    servers.push(source);
    const hubspot = await startServer(['mock', 'hubspot', '--port', '0', '--property', 'tier']);
    servers.push(hubspot);
    const env = {
      SYNC_SOURCE_URL: `${source.url}/api`,
      SYNC_DOWNSTREAM_URL: hubspot.url,
      SYNC_DOWNSTREAM_TOKEN: 'pat-na1-any-token',
      SYNC_STATE_DIR: join(tmp(), 'state'),
    };
    return { hubspot, env };
  }

  /**
   * What the platform must hold, worked out from the source, not from pull's profiles: for each
   * exported customer with an address, the address the source gave (lower-cased), its export
   * names and its export tier.
   */
  function expectedContacts(users: User[], customers: Customer[]) {
    return customers
      .filter((customer) => customer.email_domain !== 'unknown')
      .map((customer) => {
        const addresses = new Set(users.filter((u) => u.id === customer.customer_id).map((u) => String(u.email).trim().toLowerCase()));
        expect(addresses.size).toBe(1);
        return { email: [...addresses][0]!, fullName: customer.full_name, tier: customer.customer_tier };
      });
  }

  it('delivers every customer with an email, tier included (both exit 0), and a second run sends nothing', async () => {
    // The bundled fixture, except that the one customer with an address but no first name gets one
    // (the next test keeps it); the customers without a valid address (16, 17, 21) stay.
    const users = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as User[]).map((u) => (u.id === 20 ? { ...u, first_name: 'Kenji' } : u));
    const { hubspot, env } = await setUp(users);

    const first = await runNightly(tmp(), env);
    expect([first.pull, first.push, first.pipeline], first.stderr).toEqual([0, 0, 0]);
    const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(join(tmp(), 'customers.json'), 'utf8')));
    const contacts = expectedContacts(users, document.customers);
    expect(contacts).toHaveLength(21);
    expect(first.pushSummary).toMatchObject({ total: 21, valid: 21, invalid: 0, delivered: 21, unchanged: 0, deadLettered: 0 });

    for (const { email, fullName, tier } of contacts) {
      const { status, body } = await getJson(`${hubspot.url}/__mock/contacts?email=${encodeURIComponent(email)}`);
      expect(status, email).toBe(200);
      expect(body.tier, email).toBe(tier);
      expect(`${body.firstname} ${body.lastname}`).toBe(fullName);
    }
    const stats = (await getJson(`${hubspot.url}/__mock/stats`)).body;
    expect(stats).toMatchObject({ contacts: 21, accepted: 21 });

    const second = await runNightly(tmp(), env);
    expect([second.pull, second.push, second.pipeline], second.stderr).toEqual([0, 0, 0]);
    expect(second.pushSummary).toMatchObject({ total: 21, unchanged: 21, delivered: 0, batches: 0 });
    // Nothing reached the upsert endpoint again.
    const after = (await getJson(`${hubspot.url}/__mock/stats`)).body;
    expect(after).toMatchObject({ contacts: 21, accepted: 21 });
    expect(after.upsertedMoreThanOnce).toEqual({});
  }, 60_000);

  it('with the bundled fixture as it is: the customer without a first name is dead-lettered with the reason (push exit 3), every other one delivered', async () => {
    const users = JSON.parse(readFileSync(FIXTURE, 'utf8')) as User[];
    const { hubspot, env } = await setUp(users);

    const run = await runNightly(tmp(), env);
    expect([run.pull, run.push, run.pipeline], run.stderr).toEqual([0, 3, 3]);
    expect(run.pushSummary).toMatchObject({ total: 21, valid: 20, invalid: 1, delivered: 20, deadLettered: 1 });
    const deadLetters = readFileSync(join(tmp(), 'dead-letter.ndjson'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ class: 'client', reason: 'firstName: must not be empty', record: { email: 'k.nakamura@example.jp', firstName: '', lastName: 'Nakamura' } });
    expect((await getJson(`${hubspot.url}/__mock/contacts?email=k.nakamura%40example.jp`)).status).toBe(404);
    expect((await getJson(`${hubspot.url}/__mock/stats`)).body).toMatchObject({ contacts: 20, accepted: 20 });
  }, 60_000);
});
