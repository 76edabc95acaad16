#!/usr/bin/env node
// The same program under a name that clashes with nothing: `sync` is also coreutils' command in
// /bin, which cron's PATH finds first. Installed for cron, this is the name to call.
import { setProgramName } from '../dist/cli/program-name.js';
import { main } from '../dist/cli/main.js';

setProgramName('sync-cli');
await main(process.argv, process.env, { ownsProcess: true });
