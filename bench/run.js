// npm run bench [pull|push|validation|destinations|quota|serve|serve-wrk|serve-baseline|state]: prints figures (achieved vs the theoretical limit). Not a test: nothing here fails CI.
import { pullBenchmarks } from './pull.js';
import { pushBenchmarks } from './push.js';
import { destinationBenchmarks } from './destinations.js';
import { quotaBenchmarks } from './quota.js';
import { serveBaselineBenchmark, serveBenchmarks, serveWrkBenchmark } from './serve.js';
import { stateBenchmarks } from './state.js';
import { validationBenchmarks } from './validation.js';

const only = process.argv[2];
const suites = { pull: pullBenchmarks, push: pushBenchmarks, validation: validationBenchmarks, destinations: destinationBenchmarks, quota: quotaBenchmarks, serve: serveBenchmarks, 'serve-wrk': serveWrkBenchmark, 'serve-baseline': serveBaselineBenchmark, state: stateBenchmarks };
// serve-wrk and serve-baseline need wrk installed: only when asked for by name.
const optional = new Set(['serve-wrk', 'serve-baseline']);
for (const [name, run] of Object.entries(suites)) {
  if (only ? only !== name : optional.has(name)) continue;
  console.log(`\n# ${name}`);
  await run();
}
