import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keeperScript } from '../../src/state/keeper-client.js';
import type { KeeperReply } from '../../src/state/keeper-protocol.js';
import { useTempDir } from '../helpers/tmp.js';

// The keeper is a process started for every push: what it loads before it answers is its start-up
// cost (docs/benchmarks.md, start-up, third session). The built one, as push forks it.
describe('the keeper process (built, forked as push forks it)', () => {
  const tmp = useTempDir();

  it('loads lmdb as its one CommonJS file, no ES module of lmdb, and not msgpackr’s native decoder; it still opens and answers', async () => {
    const list = join(tmp(), 'loaded.txt');
    writeFileSync(list, '');
    const hook = join(tmp(), 'hook.cjs');
    // Every file the keeper loads: ES modules through a loader hook, CommonJS files as compiled,
    // native addons as dlopened.
    writeFileSync(
      hook,
      `const { appendFileSync } = require('node:fs');
       const { register } = require('node:module');
       const Module = require('node:module');
       const log = (kind, name) => appendFileSync(${JSON.stringify(list)}, kind + ' ' + name + '\\n');
       register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(`import { appendFileSync } from 'node:fs'; export async function load(url, context, next) { appendFileSync(${JSON.stringify(list)}, 'esm ' + url + '\\n'); return next(url, context); }`)}`)});
       const compile = Module.prototype._compile;
       Module.prototype._compile = function (content, filename) { log('cjs', filename); return compile.call(this, content, filename); };
       const dlopen = process.dlopen;
       process.dlopen = function (module, filename, ...rest) { log('node', filename); return dlopen.call(this, module, filename, ...rest); };`,
    );
    const child = fork(keeperScript(), { serialization: 'advanced', execArgv: ['--require', hook], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const reply = new Promise<KeeperReply>((resolve) => child.on('message', (message: KeeperReply) => message.type !== 'entries' && resolve(message)));
    child.send({ id: 1, op: 'open', path: join(tmp(), 'state'), platform: 7n, readOnly: false });
    const opened = await reply;
    expect(opened).toMatchObject({ id: 1, type: 'done' });
    // A writable open writes the state's generation: lmdb loaded and working, not only loaded.
    expect(opened.type === 'done' && opened.generation?.length).toBe(8);
    child.disconnect();
    await new Promise((resolve) => child.once('exit', resolve));

    const loaded = readFileSync(list, 'utf8').split('\n').filter(Boolean);
    const lmdb = loaded.filter((line) => /[/\\]node_modules[/\\]lmdb[/\\]/.test(line));
    expect(lmdb.filter((line) => line.startsWith('esm '))).toEqual([]);
    expect(lmdb.filter((line) => line.startsWith('cjs ')).map((line) => line.replace(/.*[/\\]node_modules[/\\]/, ''))).toEqual(['lmdb/dist/index.cjs']);
    const addons = loaded.filter((line) => line.startsWith('node ')).map((line) => line.replace(/.*[/\\]node_modules[/\\]/, ''));
    expect(addons).toEqual([expect.stringMatching(/^@lmdb[/\\]/)]);
  });
});
