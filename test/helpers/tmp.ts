import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** A fresh temp folder per test, removed afterwards. */
export function useTempDir(): () => string {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => (dir ??= mkdtempSync(join(tmpdir(), 'sync-test-')));
}

/**
 * A fresh temp folder for one test, removed when it finishes. For concurrent tests, which must not
 * share `useTempDir`'s folder: pass the test context's `onTestFinished`.
 */
export function testDir(onTestFinished: (fn: () => void) => void): () => string {
  let dir: string | undefined;
  onTestFinished(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => (dir ??= mkdtempSync(join(tmpdir(), 'sync-test-')));
}
