import { createReadStream, fstat, type Stats } from 'node:fs';
import { identityOf } from '../io/output-paths.js';
import { stat } from 'node:fs/promises';
import { describeFsError, UsageError } from '../errors.js';

/** The file push reads. */
export interface Input {
  stream: AsyncIterable<Buffer | string>;
  /** Bytes that will be read (for progress and ETA); absent for stdin. */
  size?: number;
}

/**
 * Opens the input. `bounded`: read only the bytes there now; a replay of the dead-letter file onto
 * itself appends to the file it reads, and must not read its own new lines back.
 */
export async function openInput(file: string, stdin: AsyncIterable<Buffer | string>, { bounded = false } = {}): Promise<Input> {
  if (file === '-') return { stream: stdin };
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file}: is a directory, expected a JSON or NDJSON file`);
    if (bounded && info.size === 0) return { stream: (async function* () {})(), size: 0 };
    // Default 64 KB reads: bigger chunks keep more records alive at once and cost RSS (1 MiB: +50 MB).
    const stream = createReadStream(file, bounded ? { end: info.size - 1 } : {});
    return { stream, size: info.size };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : describeFsError(error)}`);
  }
}

/** The identity (see `fileIdentity`) of the file on stdin, when stdin is a file. */
export async function stdinIdentity(): Promise<string | undefined> {
  const info = await new Promise<Stats | undefined>((resolve) => fstat(0, (error, stats) => resolve(error ? undefined : stats)));
  return info?.isFile() ? identityOf(info) : undefined;
}
