// npm run bench [pull|push|quota|serve]: prints figures (achieved vs the theoretical limit). Not a test: nothing here fails CI.
import { pullBenchmarks } from './pull.js';
import { pushBenchmarks } from './push.js';
import { quotaBenchmarks } from './quota.js';
import { serveBenchmarks } from './serve.js';

const only = process.argv[2];
const suites = { pull: pullBenchmarks, push: pushBenchmarks, quota: quotaBenchmarks, serve: serveBenchmarks };
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue;
  console.log(`\n# ${name}`);
  await run();
}
