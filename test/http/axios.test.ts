import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { axios, withoutLazyWebGlobals } from '../../src/http/axios.js';

describe('axios, loaded without compiling undici', () => {
  it('hides FormData, Request and Response while loading, then puts back the very same globals', () => {
    const before = ['FormData', 'Request', 'Response'].map((name) => Object.getOwnPropertyDescriptor(globalThis, name));
    const seen = withoutLazyWebGlobals(() => [globalThis.FormData, globalThis.Request, globalThis.Response]);
    expect(seen).toEqual([undefined, undefined, undefined]);
    expect(['FormData', 'Request', 'Response'].map((name) => Object.getOwnPropertyDescriptor(globalThis, name))).toEqual(before);
    expect(typeof Request).toBe('function');
  });

  it('puts them back when loading throws', () => {
    expect(() =>
      withoutLazyWebGlobals(() => {
        throw new Error('broken module');
      }),
    ).toThrow('broken module');
    expect(typeof Response).toBe('function');
    expect(typeof FormData).toBe('function');
  });

  it('is a working axios (create, isAxiosError, isCancel)', () => {
    expect(typeof axios.create().post).toBe('function');
    expect(axios.isAxiosError(new axios.AxiosError('x', 'ECONNRESET'))).toBe(true);
    expect(axios.isCancel(new axios.CanceledError())).toBe(true);
  });

  it('in a fresh process, loading it compiles neither undici nor any file of axios’s package', () => {
    // The built module: what bin/sync.js runs. axios's CommonJS build is bundled into dist/
    // (rolldown.config.mjs), so no file of node_modules loads, as an ES module or through require.
    const built = fileURLToPath(new URL('../../dist/http/axios.js', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'axios-load-'));
    const list = join(dir, 'loaded.txt');
    writeFileSync(list, '');
    const loader = `import { appendFileSync } from 'node:fs'; export async function load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); }`;
    const script = [
      `import { createRequire, register } from 'node:module';`,
      `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(loader)}`)});`,
      `const { axios } = await import(${JSON.stringify(built)});`,
      `const cjs = Object.keys(createRequire(import.meta.url).cache);`,
      `console.log(JSON.stringify({ undici: process.moduleLoadList.filter((m) => m.includes('undici')), cjs, works: typeof axios.create().post }));`,
    ].join('\n');
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      const { undici, cjs, works } = JSON.parse(child.stdout) as { undici: string[]; cjs: string[]; works: string };
      const esm = readFileSync(list, 'utf8').split('\n').filter(Boolean);
      expect(works).toBe('function');
      expect(undici).toEqual([]);
      expect(esm.some((url) => url.endsWith('/dist/http/axios.js'))).toBe(true);
      expect([...esm, ...cjs].filter((file) => /[/\\]node_modules[/\\]/.test(file))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in the bundle, form-data, https-proxy-agent and http2 load only when axios first uses them, from outside the bundle; a multipart body is still a real form-data, HTTP/2 still works', () => {
    const built = fileURLToPath(new URL('../../dist/http/axios.js', import.meta.url));
    // Which file holds axios.cjs: dist/http/axios.js itself, or a chunk it imports.
    const text = readFileSync(built, 'utf8');
    const chunk = /from "(\.\.\/chunks\/axios-[^"]+\.js)"/.exec(text)?.[1];
    const code = chunk ? readFileSync(fileURLToPath(new URL(chunk, pathToFileURL(built))), 'utf8') : text;
    expect(code).toContain('// node_modules/axios/dist/node/axios.cjs');
    // axios.cjs requires each of them as it loads: what it gets is the stand-in, whose module loads the real one when used.
    const standIn = (name: string): string => {
      const at = code.indexOf(`// \\0lazy:${name}\n`);
      expect(at, name).toBeGreaterThan(-1);
      return code.slice(at, code.indexOf('}));', at));
    };
    for (const name of ['form-data', 'https-proxy-agent']) {
      // Required where axios.cjs would require it (from its own folder), not bundled.
      expect(standIn(name)).toContain(`const load = () => loaded ??= __require("node:module").createRequire(__require.resolve("axios"))("${name}");`);
      expect(standIn(name)).toContain('module.exports = Lazy;');
    }
    expect(standIn('http2')).toContain('const load = () => loaded ??= __require("node:http2");');
    // Their code (and mime-types' database) is not in the chunk every push, pull and serve compiles.
    expect(code).not.toMatch(/\/\/ node_modules\/(form-data|mime-db|mime-types|https-proxy-agent|agent-base)\//);
    const script = [
      `import { createServer, connect } from 'node:http2';`,
      `const { axios } = await import(${JSON.stringify(built)});`,
      `const form = axios.toFormData({ field: 'value' });`,
      `const server = createServer((req, res) => res.end(JSON.stringify({ version: req.httpVersion })));`,
      `await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));`,
      `const answer = await axios.get('http://127.0.0.1:' + server.address().port + '/', { httpVersion: 2 });`,
      `server.close();`,
      `console.log(JSON.stringify({ boundary: typeof form.getBoundary(), type: form.getHeaders()['content-type'].split(';')[0], http2: answer.data }));`,
    ].join('\n');
    // Loading axios alone does not load Node's http2 (the script below imports it for its server).
    const bare = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(built)}); console.log(process.moduleLoadList.includes('NativeModule http2'))`], { encoding: 'utf8' });
    expect(bare.status, bare.stderr).toBe(0);
    expect(bare.stdout.trim()).toBe('false');
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({ boundary: 'string', type: 'multipart/form-data', http2: { version: '2.0' } });
  });
});
