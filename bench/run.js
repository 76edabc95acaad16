// npm run bench [pull|push|serve|state]: prints figures (achieved vs the theoretical limit). Not a test: nothing here fails CI.
import { pullBenchmarks } from './pull.js';
import { pushBenchmarks } from './push.js';
import { serveBenchmarks } from './serve.js';
import { stateBenchmarks } from './state.js';

const only = process.argv[2];
const suites = { pull: pullBenchmarks, push: pushBenchmarks, serve: serveBenchmarks, state: stateBenchmarks };
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue;
  console.log(`\n# ${name}`);
  await run();
}
