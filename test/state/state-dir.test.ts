import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { createStateDirectory, defaultStateDir } from '../../src/state/state-dir.js';
import { runMain } from '../helpers/in-process-cli.js';
import { useTempDir } from '../helpers/tmp.js';

const fallback = join(homedir(), '.local', 'state', 'sync');

describe('defaultStateDir', () => {
  it('is $XDG_STATE_HOME/sync when it is an absolute path', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/var/lib/state' })).toBe('/var/lib/state/sync');
  });

  it('is ~/.local/state/sync without $XDG_STATE_HOME, or with an empty or relative one (the XDG spec ignores those)', () => {
    expect(defaultStateDir({})).toBe(fallback);
    expect(defaultStateDir({ XDG_STATE_HOME: '' })).toBe(fallback);
    expect(defaultStateDir({ XDG_STATE_HOME: 'state/' })).toBe(fallback);
  });

  it('reads the process environment by default', () => {
    vi.stubEnv('XDG_STATE_HOME', '/srv/state');
    try {
      expect(defaultStateDir()).toBe('/srv/state/sync');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('createStateDirectory', () => {
  const tmp = useTempDir();

  it('creates the missing folders, and a folder that is there is fine', async () => {
    const dir = join(tmp(), 'a', 'b', 'state');
    await createStateDirectory(dir);
    await createStateDirectory(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
  });

  it('a file in the way: a usage error naming --state, "not a directory"', async () => {
    writeFileSync(join(tmp(), 'file'), '');
    await expect(createStateDirectory(join(tmp(), 'file', 'state'))).rejects.toThrow(`--state ${join(tmp(), 'file', 'state')}: cannot create the state (not a directory)`);
  });

  // `SYNC_STATE_DIR=` in a crontab or `--state=` gives commander an empty value: the message said
  // "--state : cannot create the state (no such file or directory (ENOENT))", naming neither cause.
  it('an empty --state or SYNC_STATE_DIR: a usage error that says it is empty and names both', async () => {
    const refused = createStateDirectory('');
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    await expect(refused).rejects.toThrow('--state (or SYNC_STATE_DIR) is empty: name a directory, or unset SYNC_STATE_DIR for the default');
  });

  // Node 20's recursive mkdir retries forever, at full CPU, when mkdir says ENOENT under a parent
  // that exists: a relative --state in a working directory deleted under the job (a deploy that
  // replaced its folder), or a pseudo-filesystem. The run must refuse, not spin until cron kills it.
  it('a relative --state in a working directory that was deleted: refused (exit 2), not a hang', { timeout: 5_000 }, async () => {
    const home = process.cwd();
    const gone = mkdtempSync(join(tmpdir(), 'sync-gone-'));
    process.chdir(gone);
    rmdirSync(gone);
    try {
      const failure = await createStateDirectory(join('state', 'platform')).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UsageError);
      expect((failure as UsageError).message).toMatch(/^--state state\/platform: cannot create the state \(/);
    } finally {
      process.chdir(home);
    }
  });
});

// An exported but empty SYNC_STATE_DIR (a crontab's `SYNC_STATE_DIR=`) reached commander as '':
// `state reset` moved the working directory's platform-state aside, push said only ENOENT. Every
// command that takes --state, in process; a push through the real launcher: push-state.e2e.test.ts.
describe('an empty SYNC_STATE_DIR or --state=, command by command', () => {
  const tmp = useTempDir();

  it('is refused (exit 2) by every command that takes --state, naming the variable; nothing in the working directory is touched', async () => {
    mkdirSync(join(tmp(), 'platform-state'));
    const env = { SYNC_STATE_DIR: '' };
    const runs = [];
    for (const [args, runEnv] of [
      [['state', 'reset'], env],
      [['state', 'show', 'a@example.com', '--downstream-url', 'http://127.0.0.1:9'], env],
      [['runs'], env],
      [['pull', '--base-url', 'http://127.0.0.1:9', '--out', join(tmp(), 'c.json')], env],
      [['push', join(tmp(), 'missing.ndjson'), '--downstream-url', 'http://127.0.0.1:9', '--state='], {}],
    ] as const) {
      runs.push(await runMain([...args], { env: runEnv, cwd: tmp() }));
    }
    for (const run of runs) expect({ code: run.code, env: /SYNC_STATE_DIR/.test(run.stderr) }).toEqual({ code: 2, env: true });
    expect(readdirSync(tmp()).sort()).toEqual(['platform-state']);
  });
});
