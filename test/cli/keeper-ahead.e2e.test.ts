import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, BIN_CLI, runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

// The keeper's own start (a Node process loading lmdb) is what the first request of a push waits
// for: each launcher forks it before the program's modules (main, commander, pino) load.
describe("the launchers fork a push's state process before loading the program (spawned)", () => {
  const tmp = useTempDir();

  /** The modules a run loads, in order (the keeper's own, after its fork, come later in the list). */
  async function loadOrder(bin: string, args: string[]): Promise<{ code: number | null; loaded: string[] }> {
    const list = join(tmp(), 'loaded.txt');
    writeFileSync(list, '');
    const hook = join(tmp(), 'hook.mjs');
    const loader = `import { appendFileSync } from 'node:fs'; export async function load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); }`;
    writeFileSync(hook, `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(loader)}`)});\n`);
    const { code } = await runCli(args, { bin, env: { NODE_OPTIONS: `--import ${hook}` } });
    return { code, loaded: readFileSync(list, 'utf8').split('\n').filter(Boolean) };
  }
  const at = (loaded: string[], ending: string): number => loaded.findIndex((url) => url.endsWith(ending));

  it.each([
    ['sync', BIN],
    ['sync-cli', BIN_CLI],
  ])('%s push: the keeper client is loaded (and the keeper forked) before main and commander; a refused run still exits 2', async (_name, bin) => {
    const file = join(tmp(), 'p.ndjson');
    writeFileSync(file, '{"email":"a@example.com","firstName":"A","lastName":"B"}\n');
    const { code, loaded } = await loadOrder(bin, ['push', file, '--downstream-url', 'http://127.0.0.1:9', '--state', join(tmp(), 'state'), '--no-such-flag']);
    expect(code).toBe(2);
    const keeper = at(loaded, '/dist/state/keeper-client.js');
    expect(keeper).toBeGreaterThan(-1);
    expect(keeper).toBeLessThan(at(loaded, '/dist/cli/main.js'));
    // commander is bundled into its own chunk of dist/ (rolldown.config.mjs names it).
    const commander = loaded.findIndex((url) => url.includes('/dist/chunks/commander-'));
    expect(commander).toBeGreaterThan(-1);
    expect(keeper).toBeLessThan(commander);
  });

  it('a dry run starts nothing ahead: the keeper client loads only when the run opens its state, after main', async () => {
    const file = join(tmp(), 'p.ndjson');
    writeFileSync(file, '{"email":"a@example.com","firstName":"A","lastName":"B"}\n');
    const { code, loaded } = await loadOrder(BIN, ['push', file, '--dry-run']);
    expect(code).toBe(0);
    expect(at(loaded, '/dist/cli/main.js')).toBeGreaterThan(-1);
    expect(at(loaded, '/dist/state/keeper-client.js')).toBeGreaterThan(at(loaded, '/dist/cli/main.js'));
  });
});
