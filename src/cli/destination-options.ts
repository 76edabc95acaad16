import { Option, type Command } from 'commander';
import { DESTINATION_NAMES, DESTINATIONS } from '../destinations/registry.js';
import { baseUrl, batchSize, BOUNDS, rate, requestsInFlight } from './parsers.js';

/** `--map` is repeatable: each one adds a field. */
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Where push, serve and `sync state` deliver to (or look): the destination, its URL and list. */
export function addTargetOptions(command: Command): Command {
  return command
    .addOption(new Option('--to <name>', 'the platform to deliver to').choices(DESTINATION_NAMES).env('SYNC_DESTINATION').default('sync'))
    .addOption(
      new Option('--downstream-url <url>', "the platform's base URL (default: the platform's public API; required for --to sync and braze)")
        .env('SYNC_DOWNSTREAM_URL')
        .argParser(baseUrl('--downstream-url', 'SYNC_DOWNSTREAM_URL')),
    )
    .addOption(new Option('--list <id>', 'the Mailchimp audience (required with --to mailchimp, refused elsewhere)').env('SYNC_LIST_ID'));
}

/** What push and serve add: field mapping and the limits that default to the destination's. */
export function addDeliveryOptions(command: Command): Command {
  return addTargetOptions(command)
    .option('--map <metadata.key=target>', "send metadata.KEY (dots reach inside) as the platform's field TARGET; repeatable", collect)
    .option('--rate <n>', `requests per second to the platform, retries included (${BOUNDS.rate.min}–${BOUNDS.rate.max}; default: the destination's)`, rate)
    .option('--batch-size <n>', "most profiles per request (default and most: the destination's)", batchSize)
    .option('--concurrency <n>', "requests in flight at most (default: the destination's)", requestsInFlight);
}

/** The table in the help: each destination's defaults and credential. */
export function destinationsHelp(): string {
  const credential: Record<string, string> = {
    sync: 'optional, sent as Bearer',
    hubspot: 'private app token (Bearer)',
    mailchimp: 'API key …-us21 (Basic); --list',
    braze: 'REST API key with users.track (Bearer); --downstream-url',
    customerio: 'SITE_ID:API_KEY (Basic)',
    iterable: "project's server-side API key (Api-Key)",
  };
  const rows = DESTINATION_NAMES.map((name) => {
    const { defaults } = DESTINATIONS[name];
    return `  ${name.padEnd(10)} ${String(defaults.batchSize).padStart(5)} ${String(defaults.rate).padStart(6)} ${String(defaults.concurrency ?? '-').padStart(9)}   ${credential[name] ?? ''}`;
  });
  return `Destinations (--to):  batch  rate/s  in flight   SYNC_DOWNSTREAM_TOKEN\n${rows.join('\n')}`;
}

/**
 * SYNC_DOWNSTREAM_TOKEN as it will be sent: without the whitespace around it (a newline copied
 * with a key from a file). axios drops that whitespace from a header anyway; taken off here, the
 * key we mask in every answer is the very one the platform received.
 */
export function downstreamToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SYNC_DOWNSTREAM_TOKEN?.trim() || undefined;
}
