import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

  it('in a fresh process, loading it compiles neither undici nor axios’s ES modules', () => {
    // The built module: what bin/sync.js runs.
    const built = fileURLToPath(new URL('../../dist/http/axios.js', import.meta.url));
    const script = [
      `import { createRequire } from 'node:module';`,
      `await import(${JSON.stringify(built)});`,
      `const cjs = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes('axios'));`,
      `console.log(JSON.stringify({ undici: process.moduleLoadList.filter((m) => m.includes('undici')), cjs }));`,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const { undici, cjs } = JSON.parse(child.stdout) as { undici: string[]; cjs: string[] };
    expect(undici).toEqual([]);
    // One file of axios's own: its CommonJS build.
    expect(cjs.filter((file) => /[/\\]axios[/\\]/.test(file))).toEqual([expect.stringMatching(/axios[/\\]dist[/\\]node[/\\]axios\.cjs$/)]);
  });
});
