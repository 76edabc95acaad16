import { expect } from 'vitest';
import type { CliResult } from './cli.js';

/** The one line a refused run prints on stderr, whatever the log format. */
export function refusal(result: CliResult, format: 'json' | 'pretty'): string {
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, result.stderr).toHaveLength(1);
  if (format === 'pretty') {
    expect(lines[0]).toMatch(/^error: /);
    return lines[0]!.slice('error: '.length);
  }
  const line = JSON.parse(lines[0]!) as { level: string; exitCode: number; errorClass: string; msg: string };
  expect(line).toMatchObject({ level: 'error', exitCode: 2, errorClass: 'client' });
  return line.msg;
}

/** A usage refusal as a script sees it: exit 2, nothing on stdout, one JSON line on stderr; its message. */
export function usageRefusal(result: CliResult): string {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  return refusal(result, 'json');
}

export function expectNoneOf(result: CliResult, fragments: string[]): void {
  for (const fragment of fragments) {
    expect(result.stdout, fragment).not.toContain(fragment);
    expect(result.stderr, fragment).not.toContain(fragment);
  }
}
