#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { setProgramName } from '../dist/cli/program-name.js';
import { main } from '../dist/cli/main.js';

setProgramName('sync');
await main(process.argv, process.env, { ownsProcess: true });
