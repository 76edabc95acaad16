import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { WriteError } from '../../src/errors.js';
import { AppendLog, headBeingRemoved, recoverConsumed, removeHead } from '../../src/io/append-log.js';
import { loadHasher, streamDigest } from '../../src/state/digest.js';
import { useTempDir } from '../helpers/tmp.js';

const digestOf = (text: string): bigint => streamDigest().update(Buffer.from(text)).digest();

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

describe('AppendLog', () => {
  const tmp = useTempDir();

  it('writes the lines of one turn together, after what is already there, and counts them', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, 'old\n');
    const log = new AppendLog(path);
    log.append('a');
    log.append('b');
    expect(read(path)).toBe('old\n'); // not yet: one write per turn
    await log.flush();
    expect(read(path)).toBe('old\na\nb\n');
    expect(log.written).toBe(2);
  });

  it('two logs on one file interleave whole lines, never parts of lines', async () => {
    const path = join(tmp(), 'dl.ndjson');
    const a = new AppendLog(path);
    const b = new AppendLog(path);
    const long = 'x'.repeat(5000);
    for (let i = 0; i < 200; i++) {
      a.append(`a${i}${long}`);
      b.append(`b${i}${long}`);
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([a.flush(), b.flush()]);
    const lines = read(path).split('\n').filter(Boolean);
    expect(lines).toHaveLength(400);
    expect(lines.every((line) => /^[ab]\d+x{5000}$/.test(line))).toBe(true);
  });

  it('starts a new line after a line cut short (a crash, a full disk)', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, '{"line":1}\n{"li');
    const log = new AppendLog(path);
    log.append('{"line":2}');
    await log.flush();
    expect(read(path)).toBe('{"line":1}\n{"li\n{"line":2}\n');
  });

  it('a failed write is reported once, refuses later lines, and claims nothing it did not write', async () => {
    const errors: WriteError[] = [];
    const log = new AppendLog('/dev/full', (error) => errors.push(error));
    log.append('a');
    await log.flush();
    log.append('b');
    await log.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe('/dev/full: no space left on device (ENOSPC)');
    expect(log.error).toBe(errors[0]);
    expect(log.written).toBe(0);
    expect(log.backlog).toBe(0);
  });

  it('a path in a missing folder fails with the path in the message', async () => {
    const log = new AppendLog(join(tmp(), 'missing', 'dl.ndjson'));
    log.append('a');
    await log.flush();
    expect(log.error?.message).toMatch(/missing\/dl\.ndjson: no such file or directory \(ENOENT\)/);
  });
});

describe('removeHead and recoverConsumed', () => {
  const tmp = useTempDir();
  beforeAll(loadHasher);

  it('drops the bytes a replay read and keeps what was appended meanwhile', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, 'r1\nr2\n');
    const log = new AppendLog(path);
    log.append('new');
    await log.flush();
    await removeHead(path, 6, digestOf('r1\nr2\n'));
    expect(read(path)).toBe('new\n');
    expect((await readdir(tmp())).sort()).toEqual(['dl.ndjson']);
  });

  it('removes the file when the replay consumed all of it', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, 'r1\n');
    await removeHead(path, 3, digestOf('r1\n'));
    expect(existsSync(path)).toBe(false);
  });

  it('drops nothing when the file at the path is not the one that was read (even with the same inode)', async () => {
    const path = join(tmp(), 'dl.ndjson');
    // Another replay replaced the file: same length of head, other bytes.
    writeFileSync(path, 'xx\nkept\n');
    await removeHead(path, 3, digestOf('r1\n'));
    expect(read(path)).toBe('xx\nkept\n');
  });

  it('a writer whose file was moved aside while it wrote appends its lines again to the new file', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, 'r1\n');
    // A removeHead by another process whose copy of the tail finished before our write landed.
    const aside = join(tmp(), '.dl.ndjson.consumed-1-1-3');
    renameSync(path, aside);
    writeFileSync(path, '');
    const log = new AppendLog(path);
    log.append('late');
    await log.flush();
    expect(read(path)).toBe('late\n');
  });

  it('finishes the job of a replay killed between the rename and the copy', async () => {
    const path = join(tmp(), 'dl.ndjson');
    writeFileSync(path, 'fresh\n');
    // pid 2^22 + 1 is above Linux's pid_max default: no such process.
    writeFileSync(join(tmp(), `.dl.ndjson.consumed-${2 ** 22 + 1}-1700000000000-3-${digestOf('r1\n').toString(16)}`), 'r1\nkept1\nkept2\n');
    await recoverConsumed(path);
    expect(read(path)).toBe('fresh\nkept1\nkept2\n');
    expect((await readdir(tmp())).sort()).toEqual(['dl.ndjson']);
  });
});

describe('headBeingRemoved', () => {
  const tmp = useTempDir();
  const aside = (name: string, pid: number, at = Date.now()) => `.${name}.consumed-${pid}-${at}-6-abc`;

  it('is true only while another live process has this file renamed aside', async () => {
    const path = join(tmp(), 'dl.ndjson');
    expect(await headBeingRemoved(path)).toBe(false);
    writeFileSync(join(tmp(), aside('dl.ndjson', process.pid)), ''); // this process's own
    writeFileSync(join(tmp(), aside('other.ndjson', process.ppid)), ''); // another file's
    writeFileSync(join(tmp(), aside('dl.ndjson', 2 ** 22 + 1)), ''); // a process that is gone
    expect(await headBeingRemoved(path)).toBe(false);
    writeFileSync(join(tmp(), aside('dl.ndjson', process.ppid)), '');
    expect(await headBeingRemoved(path)).toBe(true);
  });

  it('is false for an entry begun before `since`: a killed removal whose PID a live process has now', async () => {
    const path = join(tmp(), 'dl.ndjson');
    const begun = Date.now() - 3_600_000;
    writeFileSync(join(tmp(), aside('dl.ndjson', process.ppid, begun)), '');
    expect(await headBeingRemoved(path, Date.now() - 10_000)).toBe(false);
    expect(await headBeingRemoved(path, begun)).toBe(true);
  });
});
