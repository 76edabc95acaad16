import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdir(path, { recursive: true })` never settles, at
 * full CPU, when mkdir says ENOENT under a parent that exists (`/proc/x`, a relative path in a
 * working directory deleted under the process): it creates the parent again and retries, forever.
 * Here every level is tried once, and that ENOENT is the answer.
 */
export async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = [];
  // dirname, not resolve: resolving a relative path asks for the working directory, which may be gone.
  for (let folder = path; ; folder = dirname(folder)) {
    const info = await stat(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info?.isDirectory()) break;
    // A file in the way: its mkdir below says so (EEXIST).
    missing.push(folder);
    if (info || dirname(folder) === folder) break;
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder).catch(async (error: NodeJS.ErrnoException) => {
      // Another run created it meanwhile (two cron jobs starting at once): fine, if it is a folder.
      const created = error.code === 'EEXIST' && (await stat(folder).then((info) => info.isDirectory(), () => false));
      if (!created) throw error;
    });
  }
}
