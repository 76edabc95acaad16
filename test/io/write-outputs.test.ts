import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { WriteError } from '../../src/errors.js';
import { writeOutputs } from '../../src/io/write-outputs.js';
import { useTempDir } from '../helpers/tmp.js';

function captureStdout(): string[] {
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string, callback?: (error?: Error | null) => void) => {
    chunks.push(chunk);
    callback?.();
    return true;
  }) as typeof process.stdout.write);
  return chunks;
}

describe('writeOutputs', () => {
  const tmp = useTempDir();

  it('writes every file and stdout', async () => {
    const stdout = captureStdout();
    const out = join(tmp(), 'customers.json');
    await writeOutputs([{ path: out, text: '{}\n' }, { path: '-', text: 'line\n' }]);
    expect(readFileSync(out, 'utf8')).toBe('{}\n');
    expect(stdout).toEqual(['line\n']);
  });

  it('one file that cannot be written leaves every other file as it was, and nothing reaches stdout', async () => {
    const stdout = captureStdout();
    const out = join(tmp(), 'customers.json');
    writeFileSync(out, 'previous');
    const unwritable = join(tmp(), 'missing', 'profiles.ndjson');
    await expect(writeOutputs([{ path: out, text: 'new' }, { path: '-', text: 'line\n' }, { path: unwritable, text: 'x' }])).rejects.toBeInstanceOf(WriteError);
    expect(readFileSync(out, 'utf8')).toBe('previous');
    expect(readdirSync(tmp())).toEqual(['customers.json']);
    expect(stdout).toEqual([]);
  });

  it('an interrupt before the renames writes nothing anywhere', async () => {
    const stdout = captureStdout();
    const out = join(tmp(), 'customers.json');
    writeFileSync(out, 'previous');
    await expect(writeOutputs([{ path: '-', text: 'line\n' }, { path: out, text: 'new' }], AbortSignal.abort())).rejects.toThrow('interrupted');
    expect(readFileSync(out, 'utf8')).toBe('previous');
    expect(readdirSync(tmp())).toEqual(['customers.json']);
    expect(stdout).toEqual([]);
  });
});
