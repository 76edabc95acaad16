import type { Command } from 'commander';
import { action } from '../../cli/action.js';
import { programName } from '../../cli/program-name.js';
import { BOUNDS, integer, latency, port, probability, wholeNumber } from '../../cli/parsers.js';
import type { MergeFieldSpec } from '../../mock/mailchimp-merge-fields.js';
import * as mailchimpFlags from '../../mock/mailchimp-options.js';
import { randomFor, serveUntilSignal, type CommonFlags } from './serve-mock.js';

interface MailchimpFlags extends CommonFlags {
  connections: number;
  latency: number;
  key?: string;
  dc?: string;
  list?: string[];
  mergeField?: MergeFieldSpec[];
  maxMembers: number;
}

/** `sync mock mailchimp`: Mailchimp Marketing API v3's batch list-member call. */
export function registerMailchimpMock(mock: Command): void {
  mock
    .command('mailchimp')
    .description("imitate Mailchimp's batch subscribe call (POST /3.0/lists/{list_id}): API-key auth, merge fields, per-member errors, 10 simultaneous connections")
    .option('--port <n>', 'port (0 = any free port)', port, 4040)
    .option('--connections <n>', 'requests open at once (latency included) before the next gets 429, as Mailchimp allows 10', wholeNumber(1, 1000, 'simultaneous connections'), 10)
    .option('--key <key>', 'the only API key accepted (default: any key of the form <32 hex>-us21)', mailchimpFlags.apiKey)
    .option('--dc <dc>', "the data centre this mock stands for: a key of another one gets 403 (default: any)", mailchimpFlags.dataCentre)
    .option('--list <id>', 'an audience id the mock serves, repeatable (default: a1b2c3d4e5)', mailchimpFlags.listIds)
    .option('--merge-field <tag[:type][:required]>', 'a merge field every audience has besides FNAME and LNAME (text), repeatable; e.g. LTV:number, FNAME:text:required', mailchimpFlags.mergeFields)
    .option('--max-members <n>', 'members held across all audiences; past it a new member is refused per member', wholeNumber(1, 1_000_000, 'members'), 100_000)
    .option('--fail-rate <p>', 'share of requests answered 500 (half of the batch ones after processing), 503, or reset', probability, 0)
    .option('--latency <ms>', `how long each request is held open before its answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        'Authenticate with HTTP Basic, any user name, the API key as password. Addresses @suppressed.example',
        'are refused as "looks fake or invalid". GET /__mock/stats shows what the mock saw, and',
        'GET /__mock/members?list=ID&email=ADDRESS the member it holds.',
        '',
        'Example:',
        `  $ ${programName()} mock mailchimp --port 4040 --merge-field LTV:number`,
        `  $ SYNC_DOWNSTREAM_TOKEN=0123456789abcdef0123456789abcdef-us21 ${programName()} push fixtures/profiles/profiles.ndjson \\`,
        '      --to mailchimp --list a1b2c3d4e5 --downstream-url http://127.0.0.1:4040',
      ].join('\n'),
    )
    .action(
      action<MailchimpFlags>(async (flags, context) => {
        mailchimpFlags.checkKeyAndDataCentre(flags.key, flags.dc);
        const { createMailchimpMock } = await import('../../mock/mailchimp-server.js');
        const server = createMailchimpMock({
          key: flags.key,
          dc: flags.dc,
          lists: flags.list,
          mergeFields: flags.mergeField,
          connections: flags.connections,
          maxMembers: flags.maxMembers,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats());
      }),
    );
}
