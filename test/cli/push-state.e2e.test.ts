import { type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

/**
 * What push remembers, seen from outside: the platform's content after A → B → A, a kill between
 * a batch's processing and its answer, a damaged state, and the `sync state` commands.
 */

interface Stats {
  requests: number;
  accepted: number;
  replayed: number;
  deliveredMoreThanOnce: Record<string, number>;
}

const profile = (i: number, firstName = 'Ann') => ({ email: `user${i}@example.com`, firstName, lastName: 'Lee' });
const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('push and its state (spawned)', () => {
  const tmp = useTempDir();
  const servers: RunningServer[] = [];
  const start = async (...args: string[]) => {
    const server = await startServer(args);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  const stats = async (server: RunningServer) => (await fetch(`${server.url}/stats`)).json() as Promise<Stats>;
  const held = async (server: RunningServer, email: string) => (await fetch(`${server.url}/profiles?email=${email}`)).json() as Promise<{ firstName: string }>;

  it('A, then B, then A again (three runs) ends with A on a platform that honours Idempotency-Key', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const file = join(tmp(), 'profiles.ndjson');
    const push = async (firstName: string) => {
      writeFileSync(file, ndjson([profile(1, firstName)]));
      const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'], { env });
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { delivered: number; unchanged: number };
    };
    // One profile a run: the third batch holds exactly what the first held.
    expect(await push('Ann')).toMatchObject({ delivered: 1 });
    expect(await push('Bea')).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Bea');
    expect(await push('Ann')).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    // Processed, not answered from the store.
    expect((await stats(mock)).replayed).toBe(0);
    expect(await push('Ann')).toMatchObject({ delivered: 0, unchanged: 1 });
  });

  it('A, B, A again ends with A also when the state forgot the email in between, was reset, or is new each run', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const file = join(tmp(), 'profiles.ndjson');
    const push = async (firstName: string, stateDir: string) => {
      writeFileSync(file, ndjson([profile(1, firstName)]));
      const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--state', stateDir, '--json']);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ delivered: 1 });
    };
    const forget = async (stateDir: string) => expect((await runCli(['state', 'forget', 'user1@example.com', '--downstream-url', mock.url, '--state', stateDir])).code).toBe(0);
    const reset = async (stateDir: string) => expect((await runCli(['state', 'reset', '--state', stateDir])).code).toBe(0);
    // Each way leaves the state with nothing for the email when A is sent the second time: the
    // batch then holds what the first one held, and must not carry its key.
    const ways: [string, (stateDir: string) => Promise<void>][] = [
      ['forget', forget],
      ['reset', reset],
      ['a new state each run', async () => {}],
    ];
    for (const [way, between] of ways) {
      const stateDir = join(tmp(), way);
      const next = way === 'a new state each run' ? (() => { let runs = 0; return () => join(stateDir, String(++runs)); })() : () => stateDir;
      await push('Ann', next());
      await between(stateDir);
      await push('Bea', next());
      await between(stateDir);
      await push('Ann', next());
      expect((await held(mock, 'user1@example.com')).firstName, way).toBe('Ann');
    }
    expect((await stats(mock)).replayed).toBe(0);
  });

  it('two pushes at once that disagree about an email: rerunning either file ends with its version on the platform', async () => {
    // The answers wait 3 s: the second push opens the state before the first has recorded anything.
    const mock = await start('mock', 'downstream', '--port', '0', '--latency', '3000');
    const stateDir = join(tmp(), 'state');
    const files = { Ann: join(tmp(), 'ann.ndjson'), Bea: join(tmp(), 'bea.ndjson') };
    writeFileSync(files.Ann, ndjson([profile(1, 'Ann')]));
    writeFileSync(files.Bea, ndjson([profile(1, 'Bea')]));
    const push = (name: keyof typeof files) => runCli(['push', files[name], '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--state', stateDir, '--json'], { timeoutMs: 30_000 });
    const first = push('Ann');
    // Ann's batch has arrived (and is processed) before Bea's leaves.
    while ((await stats(mock)).requests < 1) await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await push('Bea');
    expect((await first).code).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('accepted from another run sharing this state');
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Bea');

    const rerun = await push('Ann');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    expect(JSON.parse((await push('Ann')).stdout)).toMatchObject({ unchanged: 1 });
  }, 30_000);

  it('rerunning an unchanged file sends nothing, whatever duplicates it holds (the bundled profiles; an email twice with --batch-size 1)', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const fixture = join(process.cwd(), 'fixtures', 'profiles', 'profiles.ndjson');
    const run = async (file: string, ...extra: string[]) => {
      const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json', ...extra], { env });
      return JSON.parse(result.stdout) as { delivered: number; unchanged: number; duplicates: number };
    };
    expect((await run(fixture)).delivered).toBeGreaterThan(30);
    const before = await stats(mock);
    expect(await run(fixture)).toMatchObject({ delivered: 0 });
    expect(await run(fixture)).toMatchObject({ delivered: 0 });
    const file = join(tmp(), 'twice.ndjson');
    writeFileSync(file, ndjson([profile(1, 'Early'), profile(2), profile(1, 'Late')]));
    expect(await run(file, '--batch-size', '1')).toMatchObject({ delivered: 3 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Late');
    const sent = (await stats(mock)).requests;
    expect(await run(file, '--batch-size', '1')).toMatchObject({ delivered: 0, unchanged: 2, duplicates: 1 });
    expect((await stats(mock)).requests).toBe(sent);
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Late');
    expect(before.requests).toBeGreaterThan(0);
  });

  it('A, then B, then A again through serve ends with A', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const serve = await start('serve', '--port', '0', '--downstream-url', mock.url, '--rate', '20');
    for (const firstName of ['Ann', 'Bea', 'Ann']) {
      const answer = await fetch(`${serve.url}/profiles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(profile(1, firstName)) });
      expect(answer.status).toBe(200);
    }
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    expect((await stats(mock)).replayed).toBe(0);
  });

  it('killed (-9) after the platform processed its batches and before their answers: the rerun is answered from the idempotency store, nothing is processed twice', async () => {
    const mock = await start('mock', 'downstream', '--port', '0', '--rate', '50', '--latency', '2000');
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(Array.from({ length: 300 }, (_, i) => profile(i))));
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const args = ['push', file, '--downstream-url', mock.url, '--rate', '20', '--batch-size', '100', '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'];
    const killOnceProcessed = (child: ChildProcess) => {
      const poll = setInterval(() => {
        void stats(mock).then((seen) => {
          if (seen.accepted < 300) return;
          clearInterval(poll);
          child.kill('SIGKILL');
        });
      }, 20);
      child.on('close', () => clearInterval(poll));
    };
    const killed = await runCli(args, { env, onSpawn: killOnceProcessed });
    expect(killed.code).toBeNull();
    expect((await stats(mock)).accepted).toBe(300);

    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ delivered: 300, unchanged: 0 });
    const after = await stats(mock);
    expect(after.replayed).toBe(3);
    expect(after.deliveredMoreThanOnce).toEqual({});
  });

  it('a damaged state is exit 2 with one line saying what to do, nothing sent; `sync state reset` moves it aside and push starts afresh', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const stateDir = join(tmp(), 'state');
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1), profile(2)]));
    const args = ['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'];
    expect((await runCli(args, { env: { SYNC_STATE_DIR: stateDir } })).code).toBe(0);
    const data = join(stateDir, 'platform-state', 'data.mdb');
    truncateSync(data, Math.floor(statSync(data).size / 2));
    const sentBefore = (await stats(mock)).requests;

    for (const extra of [[], ['--dry-run']]) {
      const refused = await runCli([...args, ...extra], { env: { SYNC_STATE_DIR: stateDir } });
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stdout).toBe('');
      const errors = jsonLines(refused.stderr).filter((line) => line.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ exitCode: 2 });
      expect(errors[0]!.msg).toMatch(new RegExp(`^--state ${stateDir}: the state cannot be read \\(the process reading it crashed \\(SIGBUS\\)\\); move it aside with \`sync state reset --state ${stateDir}\``));
    }
    expect((await stats(mock)).requests).toBe(sentBefore);

    const reset = await runCli(['state', 'reset', '--state', stateDir, '--json']);
    expect(reset.code, reset.stderr).toBe(0);
    const { movedTo } = JSON.parse(reset.stdout) as { movedTo: string };
    // The run history stays: a reset forgets what platforms accepted, not what ran.
    expect(readdirSync(stateDir).sort()).toEqual([movedTo.slice(stateDir.length + 1), 'runs.ndjson'].sort());
    const again = await runCli(args, { env: { SYNC_STATE_DIR: stateDir } });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ delivered: 2 });
    expect(jsonLines(again.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'warn', remembered: 0 });
  });

  it('every run says which state it uses and how much it remembers; `sync state show` and `forget` read and change it', async () => {
    const mock = await start('mock', 'downstream', '--port', '0');
    const stateDir = join(tmp(), 'state');
    const env = { SYNC_STATE_DIR: stateDir, SYNC_DOWNSTREAM_URL: mock.url };
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1), profile(2), profile(3)]));
    const push = () => runCli(['push', file, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'], { env });

    const first = await push();
    expect(jsonLines(first.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'warn', remembered: 0, msg: expect.stringContaining(`new state created in ${stateDir}`) });
    const second = await push();
    expect(JSON.parse(second.stdout)).toMatchObject({ unchanged: 3, delivered: 0 });
    expect(jsonLines(second.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'info', remembered: 3 });

    const before = Date.now();
    const shown = await runCli(['state', 'show', 'USER1@example.com ', 'nobody@example.com'], { env });
    expect(shown.code, shown.stderr).toBe(0);
    const [one, nobody] = jsonLines(shown.stdout);
    expect(one).toMatchObject({ email: 'user1@example.com', remembered: true });
    expect(Date.parse(one!.acceptedAt as string)).toBeLessThanOrEqual(before);
    expect(nobody).toEqual({ email: 'nobody@example.com', remembered: false });

    const forgot = await runCli(['state', 'forget', 'user2@example.com', '--json'], { env });
    expect(forgot.code, forgot.stderr).toBe(0);
    expect(JSON.parse(forgot.stdout)).toMatchObject({ forgotten: 1 });
    expect(JSON.parse((await push()).stdout)).toMatchObject({ unchanged: 2, delivered: 1 });

    const all = await runCli(['state', 'forget', '--all', '--json'], { env });
    expect(JSON.parse(all.stdout)).toMatchObject({ forgotten: 3 });
    expect(JSON.parse((await push()).stdout)).toMatchObject({ unchanged: 0, delivered: 3 });
    expect((await runCli(['state', 'forget', '--all', 'user1@example.com'], { env })).code).toBe(2);
    expect(existsSync(join(tmp(), 'nowhere'))).toBe(false);
    expect(JSON.parse((await runCli(['state', 'forget', '--all', '--json'], { env: { ...env, SYNC_STATE_DIR: join(tmp(), 'nowhere') } })).stdout)).toMatchObject({ forgotten: 0 });
    expect(existsSync(join(tmp(), 'nowhere'))).toBe(false);
  });
});
