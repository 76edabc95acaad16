import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { BIN, BIN_CLI, runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { useTempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { bin: Record<string, string> };

// `sync` is coreutils' command in /bin, first on cron's PATH: a hint saying `sync push …` there runs
// coreutils. The second name is what gets installed for cron; every hint must say the name typed.
// Every help page under that name: program-name-help.test.ts (in process).
describe('the program under its second name, sync-cli (spawned)', () => {
  const tmp = useTempDir();
  // The simulator `sync mock downstream` runs, in this process (nothing here stops or restarts it).
  let platform: { url: string };
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    platform = await serveMock(createDownstreamMock({ random: Math.random }), (stop) => void stops.push(stop));
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
  });

  it('package.json installs both names, each through its own launcher', () => {
    expect(pkg.bin).toStrictEqual({ sync: 'bin/sync.js', 'sync-cli': 'bin/sync-cli.js' });
  });

  it('`sync-cli` alone: the usage error points at sync-cli --help (JSON log) and the help it prints says sync-cli', async () => {
    const json = await runCli([], { bin: BIN_CLI });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ exitCode: 2, msg: 'no command given; see sync-cli --help' });
    const pretty = await runCli([], { bin: BIN_CLI, env: { SYNC_LOG_FORMAT: 'pretty' } });
    expect(pretty.stderr).toMatch(/^Usage: sync-cli /);
  });

  it('the replay hint after a push names sync-cli', async () => {
    const deadLetter = join(tmp(), 'dl.ndjson');
    const result = await runCli(['push', FIXTURE, '--dead-letter', deadLetter, '--downstream-url', platform.url, '--log-format', 'pretty'], { bin: BIN_CLI });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(`(replay: sync-cli push ${deadLetter} --dead-letter ${deadLetter} --downstream-url ${platform.url})`);
  });

  it("the demo's closing lines say sync-cli, never npx sync", async () => {
    const result = await runCli(['demo', '--out-dir', 'out'], { bin: BIN_CLI, cwd: tmp(), timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^sync-cli demo: the whole flow/);
    expect(result.stdout).toContain('Next: sync-cli pull --help · sync-cli push --help (destinations: --to sync|hubspot|mailchimp|braze|customerio|iterable) · sync-cli serve --help');
    expect(result.stdout).toContain('Replay the failures against a platform: sync-cli push out/dead-letter.ndjson --dead-letter out/dead-letter.ndjson --downstream-url URL');
    expect(result.stdout).not.toMatch(/npx/);
  });

  it('`sync` in the repository keeps its name; started by npx it says `npx sync`, and only npx itself can make it so', async () => {
    const bare = await runCli([], { bin: BIN });
    expect(JSON.parse(bare.stderr).msg).toBe('no command given; see sync --help');
    // What npx puts in the environment of the program it starts (measured with npm 11).
    const viaNpx = await runCli([], { bin: BIN, env: { npm_lifecycle_event: 'npx', npm_lifecycle_script: "'sync'" } });
    expect(JSON.parse(viaNpx.stderr).msg).toBe('no command given; see npx sync --help');
    // A test runner started by npx passes its variables on to the children it spawns: not npx sync.
    const child = await runCli([], { bin: BIN, env: { npm_lifecycle_event: 'npx', npm_lifecycle_script: 'vitest run' } });
    expect(JSON.parse(child.stderr).msg).toBe('no command given; see sync --help');
    // npx sync-cli (inside the repository) says so too.
    const cli = await runCli([], { bin: BIN_CLI, env: { npm_lifecycle_event: 'npx', npm_lifecycle_script: "'sync-cli'" } });
    expect(JSON.parse(cli.stderr).msg).toBe('no command given; see npx sync-cli --help');
  });
});
