#!/usr/bin/env node
// The same program under a name that clashes with nothing: `sync` is also coreutils' command in
// /bin, which cron's PATH finds first. Installed for cron, this is the name to call.
// dist/ is a bundle (rolldown.config.mjs): the stack traces --verbose shows name src/ files and
// lines through its source maps, turned on before any of it loads. Only then: they cost every load.
if (process.argv.includes('--verbose')) process.setSourceMapsEnabled(true);
const { setProgramName } = await import('../dist/cli/program-name.js');
const { startKeeperAhead } = await import('../dist/cli/keeper-ahead.js');

// As bin/sync.js: push's state process is forked before the program's own modules load.
await startKeeperAhead(process.argv.slice(2)).catch(() => undefined);
const { main } = await import('../dist/cli/main.js');

setProgramName('sync-cli');
await main(process.argv, process.env, { ownsProcess: true });
