#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { setProgramName } from '../dist/cli/program-name.js';
import { startKeeperAhead } from '../dist/cli/keeper-ahead.js';

// A push's state process is forked before the program's own modules load (dist/cli/keeper-ahead.js):
// it is what the first request waits for. main() takes it, or withdraws it if the run is refused;
// a failure here is main()'s to report, when it tries again.
await startKeeperAhead(process.argv.slice(2)).catch(() => undefined);
const { main } = await import('../dist/cli/main.js');

setProgramName('sync');
await main(process.argv, process.env, { ownsProcess: true });
