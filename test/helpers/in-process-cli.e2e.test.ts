import { describe, expect, it } from 'vitest';
import { BIN, BIN_CLI, runCli, type CliResult } from './cli.js';
import { runMain } from './in-process-cli.js';

/** A JSON log line's time and run id differ from run to run; nothing else may. */
const stable = (result: CliResult): CliResult => ({
  ...result,
  stderr: result.stderr.replace(/"time":"[^"]+"/g, '"time":T').replace(/"runId":"[^"]+"/g, '"runId":R'),
});

// The in-process runs stand in for spawned ones in the parsing and refusal tests: this is what
// says they may. Each kind of output those tests read, both ways, byte for byte.
describe('runMain answers as the spawned bin/sync.js does (spawned)', () => {
  it.each([
    { args: ['--version'] },
    { args: [], env: { SYNC_LOG_FORMAT: 'pretty' } },
    { args: ['pul'] },
    { args: ['mock'] },
    { args: ['mock', '--log-format', 'pretty'] },
    { args: ['pull', '--out', '-', '--json'] },
    { args: ['pull'], env: { SYNC_SOURCE_URL: 'http://user:s3cret@127.0.0.1:1/api' } },
    { args: ['--log-format', 'pretty', 'push', 'x.ndjson', '--downstream-url', 'http://u:pa#ss@127.0.0.1:4020'] },
    { args: ['push', '--help'], programName: 'sync-cli' as const },
  ])('sync $args $env $programName', async ({ args, env, programName }) => {
    const spawned = await runCli(args, { env, bin: programName === 'sync-cli' ? BIN_CLI : BIN });
    const inProcess = await runMain(args, { env, programName });
    expect(stable(inProcess)).toStrictEqual(stable(spawned));
  });
});
