import { CommanderError } from 'commander';
import { ExitCode } from '../errors.js';
import { redactCredentials } from '../logging/redact.js';
import { stopQuietlyOnBrokenPipe } from './broken-pipe.js';
import { createProgram } from './program.js';

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

export async function main(argv: string[]): Promise<void> {
  stopQuietlyOnBrokenPipe();
  try {
    await createProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message.
      process.exitCode = HELP_CODES.has(error.code) ? ExitCode.ok : ExitCode.usage;
      return;
    }
    // Actions report their own errors; reaching here is a bug, still one line.
    process.stderr.write(`error: ${redactCredentials(error instanceof Error ? error.message : String(error))}\n`);
    process.exitCode = ExitCode.failed;
  }
}
