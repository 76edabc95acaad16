import { discardStaged, replaceTogether, stageFile, type StagedFile } from './atomic-write.js';

/** One output of a run: a file, or stdout when `path` is `-`. */
export interface Output {
  path: string;
  text: string;
}

/**
 * Writes a run's outputs as one: every file is staged in full first (where a full disk or a
 * permission shows), then all are renamed into place, then stdout is written. A failure or an
 * interrupt before the renames leaves every previous file as it was. stdout comes last because
 * what went to a pipe cannot be taken back: a reader (`| sync push -`) never acts on profiles of
 * a run whose files then failed to write.
 */
export async function writeOutputs(outputs: readonly Output[], signal?: AbortSignal): Promise<void> {
  const staged: StagedFile[] = [];
  try {
    for (const output of outputs) if (output.path !== '-') staged.push(await stageFile(output.path, output.text));
  } catch (error) {
    await discardStaged(staged);
    throw error;
  }
  await replaceTogether(staged, signal);
  for (const output of outputs) if (output.path === '-') await writeStdout(output.text);
}

/** Resolves once the text is handed to the system; a failed write (EPIPE) rejects instead of passing silently. */
export function writeStdout(text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}
