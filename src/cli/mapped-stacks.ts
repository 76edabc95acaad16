import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapping } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Stack traces that name the src/ lines of the bundled dist/ (for --verbose), read from the source
 * maps only when a stack is formatted. Node's own source maps (`process.setSourceMapsEnabled`) read
 * and index every module's map as it loads, before anything runs: ~40 ms of CPU on a push's start
 * (its axios chunk alone has a 185 KB map and 500 KB of code to index), every --verbose run, for
 * stacks it almost never prints. The frames come out as Node writes them with its own maps on.
 */
export function mapStackTraces(): void {
  Error.prepareStackTrace = mappedStackTrace;
}

/** Each file's map as read (undefined: none), so a stack maps each file once. */
const maps = new Map<string, SourceMap | undefined>();

/** An `Error.prepareStackTrace`: the error's first line, then one line per frame, mapped where a map says where it came from. */
export function mappedStackTrace(error: Error, frames: NodeJS.CallSite[]): string {
  const lines = frames.map((frame) => `\n    at ${mappedFrame(frame)}`);
  return `${headline(error)}${lines.join('')}`;
}

function headline(error: Error): string {
  try {
    return Error.prototype.toString.call(error);
  } catch {
    return '<error>';
  }
}

function mappedFrame(frame: NodeJS.CallSite): string {
  const file = frame.getFileName();
  const line = frame.getLineNumber();
  const column = frame.getColumnNumber();
  // Map lines and columns count from 0, a stack's from 1.
  const found = file && line !== null && column !== null ? mapOf(file)?.findEntry(line - 1, column - 1) : undefined;
  // Before the first mapping of a file, findEntry finds nothing: `{}`.
  if (!found || !('originalSource' in found)) return String(frame);
  const entry = found as SourceMapping;
  const type = frame.getTypeName();
  const prefix = `${frame.isAsync() ? 'async ' : ''}${frame.isConstructor() ? 'new ' : ''}`;
  const name = `${prefix}${type !== null && type !== 'global' ? `${type}.` : ''}${frame.getFunctionName() ?? frame.getMethodName() ?? '<anonymous>'}`;
  return `${name} (${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1})`;
}

/** The map beside a file (`x.js.map`, as the build writes it), its sources as absolute paths. */
function mapOf(file: string): SourceMap | undefined {
  if (maps.has(file)) return maps.get(file);
  let map: SourceMap | undefined;
  try {
    const path = file.startsWith('file:') ? fileURLToPath(file) : file;
    const payload = JSON.parse(readFileSync(`${path}.map`, 'utf8')) as { sources: string[]; sourceRoot?: string };
    const root = resolve(dirname(path), payload.sourceRoot ?? '');
    map = new SourceMap({ ...payload, sources: payload.sources.map((source) => resolve(root, source)) } as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    // No map (node:internal, node_modules), or one that cannot be read: the frame stays as it is.
    map = undefined;
  }
  maps.set(file, map);
  return map;
}
