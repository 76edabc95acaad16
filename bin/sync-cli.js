#!/usr/bin/env node
// The same program under a name that clashes with nothing: `sync` is also coreutils' command in
// /bin, which cron's PATH finds first. Installed for cron, this is the name to call.
// dist/ is a bundle (rolldown.config.mjs): the stack traces --verbose shows name src/ files and
// lines through its source maps, read when a stack is formatted (Node's own read every module's map
// as it loads: ~40 ms of a push's start).
if (process.argv.includes('--verbose')) (await import('../dist/cli/mapped-stacks.js')).mapStackTraces();
const { setProgramName } = await import('../dist/cli/program-name.js');
const { startKeeperAhead } = await import('../dist/cli/keeper-ahead.js');

// As bin/sync.js: push's state process is forked before the program's own modules load.
await startKeeperAhead(process.argv.slice(2)).catch(() => undefined);
const { main } = await import('../dist/cli/main.js');

setProgramName('sync-cli');
await main(process.argv, process.env, { ownsProcess: true });
