// node bench/generate-profiles.js FILE [COUNT=1000000]: the bench's NDJSON profiles, for profiling by hand
// (node --cpu-prof --cpu-prof-dir=/tmp/prof bin/sync.js push FILE --dry-run --json --quiet).
import { writeProfiles } from './push.js';

const [file, count = '1000000'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/generate-profiles.js FILE [COUNT]');
  process.exit(2);
}
await writeProfiles(file, Number(count));
