// The bare validation loop push --dry-run is measured against (issue 19): what a careful user would
// write instead of `sync push FILE --dry-run`. readline, JSON.parse and a zod 4 schema of the same
// shape; no dead letters, no state, no normalization. Prints one JSON line: {valid, invalid, durationMs}.
// Usage: node bench/baselines/validate-loop.js FILE
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';

const name = z.string().trim().min(1).max(200);
const Profile = z.strictObject({
  email: z.email().max(254),
  firstName: name,
  lastName: name,
  metadata: z
    .looseObject({
      tags: z.array(z.string().max(100)).max(100).optional(),
      preferences: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

const started = performance.now();
let valid = 0;
let invalid = 0;
const lines = createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === '') continue;
  let value;
  try {
    value = JSON.parse(line);
  } catch {
    invalid += 1;
    continue;
  }
  if (Profile.safeParse(value).success) valid += 1;
  else invalid += 1;
}
console.log(JSON.stringify({ valid, invalid, durationMs: Math.round(performance.now() - started) }));
