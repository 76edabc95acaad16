import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Every .js file of dist/ (built by `npm run build`: rolldown.config.mjs). */
function builtFiles(): string[] {
  return readdirSync(dist, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.js'))
    .map((file) => join(dist, file));
}

describe('the bundle in dist/ (rolldown.config.mjs)', () => {
  it('is ASCII in every file, so Node reads each one as a one-byte string (a single `·` or `—` made a whole chunk two-byte)', () => {
    const files = builtFiles();
    expect(files.length).toBeGreaterThan(20);
    const outside = files.filter((file) => readFileSync(file).some((byte) => byte > 0x7f));
    expect(outside).toEqual([]);
  });

  it('keeps the strings that held such characters as they were: escaped in the file, the same text when printed', () => {
    const help = spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/sync.js', import.meta.url)), '--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('# reqres users → enriched export');
    expect(help.stdout).toContain('Exit codes: 0 done · 1 failed · 2 could not start');
  });

  it('wraps each bundled CommonJS module in a parenthesised function (compiled with its chunk), not an arrow (parsed twice)', () => {
    const code = builtFiles().map((file) => readFileSync(file, 'utf8')).join('\n');
    expect(code).toMatch(/^var require_axios = __commonJSMin\(\(function ?\(exports, module\) \{$/m);
    expect(code).not.toMatch(/__commonJSMin\(\(\(exports/);
  });

  it("leaves Node's child_process unloaded by a run that forks nothing: commander's is a stand-in, loaded on its first use", () => {
    const code = builtFiles().map((file) => readFileSync(file, 'utf8')).join('\n');
    expect(code).toContain('const load = () => loaded ??= __require("node:child_process");');
    const bin = fileURLToPath(new URL('../../bin/sync.js', import.meta.url));
    const script = [
      // (console.error is silenced by the program without --verbose.)
      `process.on('exit', () => process.stderr.write('child_process ' + process.moduleLoadList.includes('NativeModule child_process')));`,
      `process.argv = [process.argv[0], ${JSON.stringify(bin)}, '--version'];`,
      `await import(${JSON.stringify(bin)});`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(run.stderr.trim()).toBe('child_process false');
  });
});
