import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`, one folder at a time. Node 20's `mkdir(path, { recursive: true })` never settles
 * where a folder cannot be made although its parent exists (`/proc/x`: it retries ENOENT for ever,
 * a run spinning at 100% CPU); a plain mkdir there fails at once with the reason.
 */
export async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = [];
  for (let folder = resolve(path); ; folder = dirname(folder)) {
    const exists = await stat(folder).then(
      () => true,
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : Promise.reject(error)),
    );
    if (exists) break;
    missing.push(folder);
    if (dirname(folder) === folder) break;
  }
  for (const folder of missing.reverse()) {
    // Another run may create it meanwhile: that is as good.
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => (error.code === 'EEXIST' ? undefined : Promise.reject(error)));
  }
}
