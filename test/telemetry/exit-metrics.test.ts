import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { findMetricsFile, noteMetricsWritten, withExitMetrics } from '../../src/telemetry/exit-metrics.js';
import { recordRun } from '../../src/telemetry/metrics.js';
import { runGaugesText } from '../../src/telemetry/run-gauges.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { useTempDir } from '../helpers/tmp.js';

describe('findMetricsFile: the metrics file of a pull or push, from the raw arguments', () => {
  it.each([
    [['push', 'p.ndjson', '--metrics-file', 'm.prom'], { command: 'push', path: 'm.prom' }],
    [['pull', '--metrics-file=m.prom', '--out', 'c.json'], { command: 'pull', path: 'm.prom' }],
    // Global options before the command, one of them with a value that is not the command.
    [['--log-format', 'json', '--quiet', 'push', 'p', '--metrics-file', 'm.prom'], { command: 'push', path: 'm.prom' }],
    // Given twice: the last wins, as commander has it.
    [['push', 'p', '--metrics-file', 'a.prom', '--metrics-file', 'b.prom'], { command: 'push', path: 'b.prom' }],
    // A refused flag next to it changes nothing: that is the point.
    [['push', 'p', '--bogus', '--metrics-file', 'm.prom'], { command: 'push', path: 'm.prom' }],
  ])('%j → %j', (args, expected) => {
    expect(findMetricsFile(args)).toStrictEqual(expected);
  });

  it.each([
    [['push', 'p']],
    [['push', 'p', '--metrics-file']],
    [['push', 'p', '--metrics-file=']],
    // A dry run writes no file, its metrics included.
    [['push', 'p', '--dry-run', '--metrics-file', 'm.prom']],
    // Only pull and push take the flag; the label's values are a fixed set.
    [['serve', '--metrics-file', 'm.prom']],
    [['pul', '--metrics-file', 'm.prom']],
    // After `--` it is an argument, not a flag.
    [['push', '--', '--metrics-file', 'm.prom']],
  ])('%j → none', (args) => {
    expect(findMetricsFile(args)).toBeUndefined();
  });
});

describe('withExitMetrics: every exit of a run given --metrics-file is recorded', () => {
  const tmp = useTempDir();
  afterEach(() => {
    process.exitCode = undefined;
  });
  /** A clock that gives 1000.0 s at the start and 1002.5 s at the end. */
  const clock = () => vi.fn<() => number>().mockReturnValueOnce(1_000_000).mockReturnValueOnce(1_002_500);

  it('a run that ended before the command wrote anything (exit 2): exit code, duration and time replace the old file', async () => {
    const file = join(tmp(), 'push.prom');
    writeFileSync(file, 'sync_run_exit_code{command="push"} 0\nsync_run_records{command="push",outcome="delivered"} 35\n');
    const say = vi.fn();
    await withExitMetrics(['push', 'p', '--bogus', '--metrics-file', file], async () => void (process.exitCode = 2), say, clock());
    const metrics = parsePrometheus(readFileSync(file, 'utf8'));
    expect(Object.fromEntries(metrics)).toStrictEqual({
      'sync_run_exit_code{command="push"}': 2,
      'sync_run_duration_seconds{command="push"}': 2.5,
      'sync_run_last_timestamp_seconds{command="push"}': 1002.5,
    });
    expect(say).not.toHaveBeenCalled();
    expect(process.exitCode).toBe(2);
  });

  it('a run that threw: still recorded, and the error still goes up', async () => {
    const file = join(tmp(), 'pull.prom');
    const failing = withExitMetrics(['pull', '--metrics-file', file], async () => {
      process.exitCode = 1;
      throw new Error('boom');
    }, vi.fn(), clock());
    await expect(failing).rejects.toThrow('boom');
    expect(parsePrometheus(readFileSync(file, 'utf8')).get('sync_run_exit_code{command="pull"}')).toBe(1);
  });

  it('the command wrote its own metrics: the file is left as the command wrote it', async () => {
    const file = join(tmp(), 'push.prom');
    writeFileSync(file, 'written by the run\n');
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => {
      noteMetricsWritten();
      process.exitCode = 3;
    }, vi.fn(), clock());
    expect(readFileSync(file, 'utf8')).toBe('written by the run\n');
  });

  it('the flag is noted per run: a second run in the same process that never reached its writer is recorded', async () => {
    const file = join(tmp(), 'push.prom');
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => noteMetricsWritten(), vi.fn(), clock());
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void (process.exitCode = 2), vi.fn(), clock());
    expect(parsePrometheus(readFileSync(file, 'utf8')).get('sync_run_exit_code{command="push"}')).toBe(2);
  });

  it('exit 0 without the writer (help, --version) is no run: nothing written', async () => {
    const file = join(tmp(), 'push.prom');
    await withExitMetrics(['push', '--help', '--metrics-file', file], async () => undefined, vi.fn(), clock());
    expect(existsSync(file)).toBe(false);
  });

  it('a file that cannot be written is said in one line naming it; the exit code stays', async () => {
    const file = join(tmp(), 'missing', 'push.prom');
    const say = vi.fn();
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void (process.exitCode = 2), say, clock());
    expect(say).toHaveBeenCalledOnce();
    expect(say).toHaveBeenCalledWith(`--metrics-file ${file}: exit code 2 not recorded: no such file or directory (ENOENT)`, 2);
    expect(process.exitCode).toBe(2);
  });
});

// A second Ctrl-C (src/cli/signals.ts) and a closed stdout (src/cli/broken-pipe.ts) end the process
// with process.exit(): no promise runs after that, so the exit code must be written synchronously,
// from the process's 'exit' event, or last night's file stays.
describe('withExitMetrics: a process that exits at once (process.exit) mid-run', () => {
  const tmp = useTempDir();
  afterEach(() => {
    process.exitCode = undefined;
  });

  /** A run that ends the way process.exit(code) does: the 'exit' listeners added since the run began are called, synchronously. */
  const exitingWith = (code: number, first?: () => void) => {
    const before = new Set(process.listeners('exit'));
    return async (): Promise<number> => {
      first?.();
      const added = process.listeners('exit').filter((listener) => !before.has(listener));
      for (const listener of added) (listener as (code: number) => void)(code);
      return added.length;
    };
  };

  it('exit 130 (second Ctrl-C) during the run: the exit code replaces last night\'s file before the process is gone', async () => {
    const file = join(tmp(), 'push.prom');
    writeFileSync(file, 'sync_run_exit_code{command="push"} 0\n');
    let added = 0;
    const exiting = exitingWith(130);
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => {
      added = await exiting();
    }, vi.fn(), () => 5_000);
    expect(added).toBeGreaterThan(0);
    expect(Object.fromEntries(parsePrometheus(readFileSync(file, 'utf8')))).toMatchObject({ 'sync_run_exit_code{command="push"}': 130 });
  });

  it('exit 141 (stdout closed by its reader) after the command wrote its own metrics: the file stays the command\'s', async () => {
    const file = join(tmp(), 'pull.prom');
    writeFileSync(file, 'written by the run\n');
    const exiting = exitingWith(141, noteMetricsWritten);
    await withExitMetrics(['pull', '--metrics-file', file], async () => void (await exiting()), vi.fn(), () => 5_000);
    expect(readFileSync(file, 'utf8')).toBe('written by the run\n');
  });

  it('exit 141 before the command wrote anything: recorded as pull\'s', async () => {
    const file = join(tmp(), 'pull.prom');
    const exiting = exitingWith(141);
    await withExitMetrics(['pull', '--metrics-file', file], async () => void (await exiting()), vi.fn(), () => 5_000);
    expect(parsePrometheus(readFileSync(file, 'utf8')).get('sync_run_exit_code{command="pull"}')).toBe(141);
  });

  // Push and pull listen for SIGINT/SIGTERM only once their action runs (signals.ts), after their
  // modules load and their flags are parsed: 0.6 s of a push here. A Ctrl-C before then met no
  // listener, so Node's default ended the process by the signal: no 'exit' event, last night's file.
  it('Ctrl-C before the command listens for it: exit 130, recorded before the process is gone', async () => {
    const file = join(tmp(), 'push.prom');
    writeFileSync(file, 'sync_run_exit_code{command="push"} 0\n');
    const exits: number[] = [];
    const exitNow = exitingWith(130);
    const exit = (code: number): void => {
      exits.push(code);
      void exitNow();
    };
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void process.emit('SIGINT', 'SIGINT'), vi.fn(), () => 5_000, exit);
    expect(exits).toEqual([130]);
    expect(Object.fromEntries(parsePrometheus(readFileSync(file, 'utf8')))).toMatchObject({ 'sync_run_exit_code{command="push"}': 130 });
  });

  it('SIGTERM before the command listens for it: the same', async () => {
    const file = join(tmp(), 'pull.prom');
    const exits: number[] = [];
    await withExitMetrics(['pull', '--metrics-file', file], async () => void process.emit('SIGTERM', 'SIGTERM'), vi.fn(), () => 5_000, (code) => void exits.push(code));
    expect(exits).toEqual([130]);
  });

  it('without --metrics-file, a SIGTERM before push or pull listens is still exit 130, not the signal\'s 143', async () => {
    const exits: number[] = [];
    await withExitMetrics(['push', 'p', '--dry-run'], async () => void process.emit('SIGTERM', 'SIGTERM'), vi.fn(), () => 5_000, (code) => void exits.push(code));
    await withExitMetrics(['pull'], async () => void process.emit('SIGINT', 'SIGINT'), vi.fn(), () => 5_000, (code) => void exits.push(code));
    expect(exits).toEqual([130, 130]);
  });

  it('other commands keep Node\'s default for a signal (serve and mock handle their own)', async () => {
    const exit = vi.fn();
    const before = process.listenerCount('SIGTERM');
    await withExitMetrics(['serve', '--port', '0'], async () => {
      expect(process.listenerCount('SIGTERM')).toBe(before);
    }, vi.fn(), () => 5_000, exit);
    expect(exit).not.toHaveBeenCalled();
  });

  it('once the command listens for its own signals, a Ctrl-C is its to handle (the run stops and reports)', async () => {
    const file = join(tmp(), 'push.prom');
    const exit = vi.fn();
    const commandsOwn = vi.fn();
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => {
      process.on('SIGINT', commandsOwn);
      process.emit('SIGINT', 'SIGINT');
      process.off('SIGINT', commandsOwn);
    }, vi.fn(), () => 5_000, exit);
    expect(commandsOwn).toHaveBeenCalledTimes(1);
    expect(exit).not.toHaveBeenCalled();
  });

  it('a Ctrl-C after the command stopped listening (its run over, metrics written) is not recorded as an interrupted run', async () => {
    const file = join(tmp(), 'push.prom');
    const exit = vi.fn();
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => {
      const commandsOwn = (): void => undefined;
      process.on('SIGINT', commandsOwn);
      process.off('SIGINT', commandsOwn);
      process.emit('SIGINT', 'SIGINT');
    }, vi.fn(), () => 5_000, exit);
    expect(exit).not.toHaveBeenCalled();
  });

  it('no handover watch is left behind once the run is over', async () => {
    const file = join(tmp(), 'push.prom');
    const before = process.listenerCount('newListener');
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void (process.exitCode = 2), vi.fn(), () => 5_000);
    expect(process.listenerCount('newListener')).toBe(before);
  });

  it('no signal listener is left behind once the run is over', async () => {
    const file = join(tmp(), 'push.prom');
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void (process.exitCode = 2), vi.fn(), () => 5_000);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
  });

  it('no exit listener is left behind once the run is over', async () => {
    const file = join(tmp(), 'push.prom');
    const before = process.listenerCount('exit');
    await withExitMetrics(['push', 'p', '--metrics-file', file], async () => void (process.exitCode = 2), vi.fn(), () => 5_000);
    expect(process.listenerCount('exit')).toBe(before);
  });
});

describe('runGaugesText: the run gauges without prom-client (for an exiting process)', () => {
  it('is exactly what prom-client renders for the same run', async () => {
    const run = { exitCode: 130, durationMs: 2500, endedAt: 1_700_000_000_123 };
    const registry = new Registry();
    recordRun(registry, 'push', run);
    expect(runGaugesText('push', run)).toBe(await registry.metrics());
  });
});
