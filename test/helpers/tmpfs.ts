import { execFileSync } from 'node:child_process';

/** Mounts a tmpfs of `size` (e.g. '1m') on `dir`: a small disk to fill. False when not root. */
export function tryMountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
