import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { WriteStream } from 'node:fs';
import { removeStaleTempFiles } from './atomic-write.js';

/**
 * An NDJSON output written to a temp file beside its target and renamed into place on `commit`,
 * so an interrupted run never leaves half a file. Writes respect backpressure.
 */
export class NdjsonFile {
  lines = 0;
  private constructor(
    readonly target: string,
    private readonly temp: string,
    private readonly stream: WriteStream,
  ) {}

  /** `keepExisting`: start from the target's current content (the new lines are appended to it). */
  static async create(target: string, { keepExisting = false } = {}): Promise<NdjsonFile> {
    await removeStaleTempFiles(target);
    const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // flush: fsync before close, so the rename can never expose a file whose data is not on disk.
    const stream = createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    const file = new NdjsonFile(target, temp, stream);
    if (keepExisting) await file.copyFrom(target);
    return file;
  }

  async write(value: unknown): Promise<void> {
    this.lines += 1;
    if (!this.stream.write(`${JSON.stringify(value)}\n`)) await new Promise<void>((resolve) => this.stream.once('drain', () => resolve()));
  }

  /** fsync and rename into place. */
  async commit(): Promise<void> {
    await this.finish();
    await rename(this.temp, this.target);
  }

  /** Throw the temp file away; the target is left as it was. */
  async discard(): Promise<void> {
    await this.finish().catch(() => undefined);
    await unlink(this.temp).catch(() => undefined);
  }

  private async finish(): Promise<void> {
    if (this.stream.closed) return;
    await new Promise<void>((resolve, reject) => {
      this.stream.once('close', () => resolve());
      this.stream.once('error', reject);
      this.stream.end();
    });
  }

  private async copyFrom(path: string): Promise<void> {
    const exists = await stat(path).then(
      (info) => info.isFile(),
      () => false,
    );
    if (!exists) return;
    // Plain writes, not pipeline(): a failing source must not destroy our stream.
    for await (const chunk of createReadStream(path)) {
      if (!this.stream.write(chunk)) await new Promise<void>((resolve) => this.stream.once('drain', () => resolve()));
    }
  }
}
