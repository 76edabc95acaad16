import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';

/** Lines of help text that show a command to type (`  $ …`). */
const exampleLines = (text: string): string[] => text.split('\n').filter((line) => /^\s+\$ /.test(line));

// The name every help page says: sync runs in this process under the name its launcher gives
// (test/helpers/in-process-cli.ts). Through the launchers themselves (a usage error, npx), and for
// runs that push or demo: program-name.e2e.test.ts.
describe('the program under its second name, sync-cli (in process)', () => {
  it('help: the usage line and every example say sync-cli, for the program and each command', async () => {
    const commands = [['--help'], ['push', '--help'], ['pull', '--help'], ['serve', '--help'], ['demo', '--help'], ['state', 'show', '--help'], ['mock', 'downstream', '--help'], ['mock', 'hubspot', '--help']];
    const results = await Promise.all(commands.map((args) => runMain(args, { programName: 'sync-cli' })));
    for (const [i, args] of commands.entries()) {
      const result = results[i]!;
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/^Usage: sync-cli /);
      const examples = exampleLines(result.stdout);
      expect(examples.filter((line) => /^\s+\$ (\S+=\S+ )?sync-cli /.test(line)).length, args.join(' ')).toBeGreaterThan(0);
      for (const line of examples) expect(line, args.join(' ')).not.toMatch(/\$ (\S+=\S+ )?(npx )?sync /);
    }
  });
});
