/**
 * SYNC_DOWNSTREAM_TOKEN as it will be sent: without the whitespace around it (a newline copied
 * with a key from a file). axios drops that whitespace from a header anyway; taken off here, the
 * key we mask in every answer is the very one the platform received.
 */
export function downstreamToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SYNC_DOWNSTREAM_TOKEN?.trim() || undefined;
}
