import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFsError, UsageError } from '../errors.js';
import { AppendLog } from '../io/append-log.js';
import { checkOutputPaths } from '../io/output-paths.js';
import { createStateDirectory } from '../state/state-dir.js';
import { linesFromEnd, type TailOptions } from './lines-from-end.js';
import { runLine, RunRecordSchema, type RunRecord } from './run-record.js';

/** The run history's file in the state directory, beside push's state. */
export const RUNS_FILE = 'runs.ndjson';

export const historyPath = (stateDir: string): string => join(stateDir, RUNS_FILE);

/**
 * Makes sure a run can be recorded before it starts: creates the state directory if needed and
 * checks the history file can be appended to. A failure is a usage error naming --state: the run
 * cannot start (and cannot be recorded either).
 */
export async function prepareHistory(stateDir: string): Promise<void> {
  await createStateDirectory(stateDir);
  await checkOutputPaths([{ flag: '--state', path: historyPath(stateDir) }]);
}

/**
 * Appends one run as one whole line (O_APPEND, one write): two runs ending at once both keep their
 * line, and nothing is ever rewritten. Throws the write's error (a WriteError naming the file).
 */
export async function appendRun(stateDir: string, run: RunRecord): Promise<void> {
  const log = new AppendLog(historyPath(stateDir));
  log.append(runLine(run));
  await log.flush();
  if (log.error) throw log.error;
}

/**
 * The same, synchronously, for a process that is exiting now (`process.on('exit')` runs no
 * promise). A last line cut short by a crash is ended first, in the same write.
 */
export function appendRunSync(stateDir: string, run: RunRecord): void {
  const fd = openSync(historyPath(stateDir), 'a+', 0o644);
  try {
    const { size } = fstatSync(fd);
    const last = Buffer.alloc(1);
    const cutShort = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    const data = Buffer.from(`${cutShort ? '\n' : ''}${runLine(run)}\n`);
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
  } finally {
    closeSync(fd);
  }
}

/** A line of the history that is not a run: where it starts (byte offset) and why it was skipped. */
export interface DamagedLine {
  offset: number;
  why: string;
}

/** A run as listed: its record, and its line exactly as it is in the file. */
export interface ListedRun {
  run: RunRecord;
  text: string;
}

/**
 * The last `last` runs of the history, oldest first, read from the end of the file (a history of
 * any length costs `last` lines of memory). Lines that are not a run (a line cut short by a kill,
 * garbage) are skipped and reported to `onDamaged`, never thrown. Undefined when there is no
 * history yet.
 */
export async function readLastRuns(
  stateDir: string,
  last: number,
  onDamaged: (damage: DamagedLine) => void,
  options: TailOptions = {},
): Promise<ListedRun[] | undefined> {
  const path = historyPath(stateDir);
  const refused = (why: string, cause?: unknown): UsageError => new UsageError(`--state ${stateDir}: cannot read the run history ${path} (${why})`, { cause });
  // Non-blocking: opening a FIFO to read would wait for a writer forever.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw refused(describeFsError(error), error);
  });
  if (!handle) return undefined;
  const runs: ListedRun[] = [];
  try {
    // Runs only ever append to a regular file: anything else (a FIFO, a device) was put there by hand.
    if (!(await handle.stat()).isFile()) throw refused('not a regular file');
    for await (const line of linesFromEnd(handle, options)) {
      if ('tooLong' in line) {
        onDamaged({ offset: line.offset, why: `a line of ${line.tooLong} bytes, far longer than a run's` });
        continue;
      }
      const run = parseRun(line.text);
      if ('why' in run) onDamaged({ offset: line.offset, why: line.ended ? run.why : `${run.why}; it has no newline after it (a run killed while writing it?)` });
      else runs.push({ run: run.run, text: line.text.trim() });
      if (runs.length >= last) break;
    }
  } catch (error) {
    throw error instanceof UsageError ? error : refused(describeFsError(error), error);
  } finally {
    await handle.close();
  }
  return runs.reverse();
}

function parseRun(text: string): { run: RunRecord } | { why: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { why: 'not valid JSON' };
  }
  const parsed = RunRecordSchema.safeParse(value);
  if (parsed.success) return { run: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { why: issue.path.length > 0 ? `not a run (${issue.path.join('.')}: ${issue.message})` : 'not a run (not a JSON object)' };
}
