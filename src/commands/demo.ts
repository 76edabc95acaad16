import type { Command } from 'commander';
import { action } from '../cli/action.js';
import { programName } from '../cli/program-name.js';
import { ExitCode } from '../errors.js';

interface DemoFlags {
  outDir: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the whole flow offline: a pull through failures and 429s, then a push with invalid and suppressed profiles')
    .option('--out-dir <dir>', 'where the export, dead-letter and report files go', 'demo-output')
    .addHelpText('after', `\nExample:\n  $ ${programName()} demo`)
    .action(
      action<DemoFlags>(async (flags, context) => {
        const { describeDemo, runDemo } = await import('../demo/run-demo.js');
        // The demo speaks through its report; warnings (retries, rejections) still show, info only with --verbose.
        const logger = context.verbose ? context.logger : context.logger.child({}, { level: 'warn' });
        const progress = context.terminal.progress('Running the demo: pull, then push');
        try {
          const result = await runDemo({ outDir: flags.outDir }, { logger, runId: context.runId });
          const finished = (code: ExitCode) => code === ExitCode.ok || code === ExitCode.partial;
          const ok = !result.pull.error && finished(result.push.exitCode) && finished(result.hubspot.exitCode);
          const lines = describeDemo(result);
          if (!context.json) process.stdout.write(`${lines.join('\n')}\n`);
          return {
            exitCode: ok ? ExitCode.ok : ExitCode.failed,
            error: result.pull.error ?? (ok ? undefined : (result.push.error ?? result.hubspot.error)),
            summary: { pull: result.pull.summary, push: result.push.summary, hubspot: result.hubspot.summary, files: result.files },
            stage: 'run',
          };
        } finally {
          progress.stop();
        }
      }),
    );
}
