#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm ci` (the `prepare` script).
// dist/ is a bundle (rolldown.config.mjs): the stack traces --verbose shows name src/ files and
// lines through its source maps, read when a stack is formatted (Node's own read every module's map
// as it loads: ~40 ms of a push's start).
if (process.argv.includes('--verbose')) (await import('../dist/cli/mapped-stacks.js')).mapStackTraces();
const { setProgramName } = await import('../dist/cli/program-name.js');
const { startKeeperAhead } = await import('../dist/cli/keeper-ahead.js');

// A push's state process is forked before the program's own modules load (dist/cli/keeper-ahead.js):
// it is what the first request waits for. main() takes it, or withdraws it if the run is refused;
// a failure here is main()'s to report, when it tries again.
await startKeeperAhead(process.argv.slice(2)).catch(() => undefined);
const { main } = await import('../dist/cli/main.js');

setProgramName('sync');
await main(process.argv, process.env, { ownsProcess: true });
