#!/usr/bin/env node
// The same program under a name that clashes with nothing: `sync` is also coreutils' command in
// /bin, which cron's PATH finds first. Installed for cron, this is the name to call.
import { setProgramName } from '../dist/cli/program-name.js';
import { startKeeperAhead } from '../dist/cli/keeper-ahead.js';

// As bin/sync.js: push's state process is forked before the program's own modules load.
await startKeeperAhead(process.argv.slice(2)).catch(() => undefined);
const { main } = await import('../dist/cli/main.js');

setProgramName('sync-cli');
await main(process.argv, process.env, { ownsProcess: true });
