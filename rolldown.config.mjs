import { defineConfig } from 'rolldown';

/** commander's module that requires node:child_process as it loads (a stand-in: lazy-deps below). */
const COMMANDER = /[\\/]commander[\\/]lib[\\/]command\.js$/;

/**
 * dist/ is a bundle: each Node process of `sync` (a command, a mock, push's state keeper) used to
 * resolve, read and compile 150–300 files (95 of them zod's) before doing anything; a few dozen
 * chunks now. Code splitting is kept: a command loads its own chunks, the keeper its own.
 *
 * Every output file sits exactly two folders below the package root (dist/cli/main.js,
 * dist/chunks/x.js), as every bundled module did in src/ (src/mock/reqres-server.ts): what a module
 * finds relative to `import.meta.url` (fixtures/, dist/state/lmdb-keeper.js) is found the same way
 * from the sources (tests) and from the bundle. The `depth` plugin below refuses any other layout.
 */
export default defineConfig({
  input: {
    // The launchers (bin/): the program, its name, the keeper started ahead.
    'cli/main': 'src/cli/main.ts',
    'cli/program-name': 'src/cli/program-name.ts',
    'cli/keeper-ahead': 'src/cli/keeper-ahead.ts',
    // --verbose only: stacks mapped to src/ when formatted (src/cli/mapped-stacks.ts).
    'cli/mapped-stacks': 'src/cli/mapped-stacks.ts',
    // push's state process (forked by keeper-client.ts), and its client, loaded before the program.
    'state/lmdb-keeper': 'src/state/lmdb-keeper.ts',
    'state/keeper-client': 'src/state/keeper-client.ts',
    // Loaded from dist/ by tests that need a fresh process (a locale, a module graph) and by bench/pull.js.
    'pull/customer-data-processor': 'src/pull/customer-data-processor.ts',
    'http/axios': 'src/http/axios.ts',
    'http/server': 'src/http/server.ts',
    'engine/random': 'src/engine/random.ts',
    'mock/reqres-server': 'src/mock/reqres-server.ts',
  },
  platform: 'node',
  // What the `main` chunk group below needs (includeDependenciesRecursively: false); our entries'
  // importers (bin/, tests) use only their named exports, so extra ones change nothing.
  preserveEntrySignatures: 'allow-extension',
  // lmdb and its msgpackr load native addons found from their own folders; ioredis (--redis-url only)
  // and pino-pretty (a TTY only) are loaded rarely.
  // node: builtins are left to Node, but for commander's child_process (a stand-in: lazy-deps below).
  external: (id, importer) =>
    (/^node:/.test(id) && !(id === 'node:child_process' && importer && COMMANDER.test(importer))) || ['lmdb', 'ioredis', 'pino-pretty'].includes(id),
  plugins: [
    {
      // src/http/axios.ts requires axios's CommonJS build at run time, with the globals that would
      // compile undici out of sight. In the bundle that call becomes a `require` rolldown resolves:
      // axios.cjs and the ~80 CommonJS files it requires (form-data, follow-redirects…) are bundled,
      // and still evaluated only at that call, inside the same guard.
      name: 'bundle-axios-cjs',
      transform: {
        filter: { id: /[\\/]src[\\/]http[\\/]axios\.ts$/ },
        handler(code) {
          const call = "createRequire(import.meta.url)('axios')";
          if (code.split(call).length !== 2) this.error(`src/http/axios.ts must hold ${call} exactly once`);
          // The same length, so every column after it keeps its place: the source map stays as it is.
          return { code: code.replace(call, "require('axios')".padEnd(call.length)), map: null };
        },
      },
    },
    {
      // axios.cjs requires these three as it loads, for what no run of ours does unless asked: a
      // multipart body (form-data, with mime-types and its 200 KB database), an HTTPS proxy
      // (https-proxy-agent, with agent-base) and HTTP/2 (Node's http2). Measured in a fresh process after
      // the builtins axios needs anyway (load 8): form-data 67-132 ms, https-proxy-agent 7-34 ms, all
      // of axios 115-280 ms; `require('http2')` 9 ms. Each becomes a stand-in that loads the real
      // module the first time it is used (constructed, asked `instanceof`, or a member read), as
      // axios uses them (toFormData, setProxy, its http2 transport). Commander's `node:child_process`
      // too (2.5-6 ms; it spawns only for executable subcommands, which we have none of): every
      // process that forks nothing (`--version`, a refusal, a mock) loaded it for commander alone.
      //
      // form-data and https-proxy-agent are not bundled either: they are required from
      // node_modules, from where axios.cjs itself would (its own folder), only when first used.
      // Bundled, their code was 290 KB of the 500 KB axios chunk that every push, pull and serve
      // reads and compiles, never to run it (compiling ES modules: 123 -> 73 ms of a 3-profile push's
      // process, with the ASCII output below; --cpu-prof, 100 us, load ~3, means of 4 and 6 runs).
      name: 'lazy-deps',
      resolveId: {
        filter: { id: /^(form-data|https-proxy-agent|http2|node:child_process)$/ },
        handler(id, importer) {
          if (id === 'node:child_process') return importer && COMMANDER.test(importer) ? '\0lazy:child_process' : undefined;
          if (importer && /[\\/]axios[\\/]dist[\\/]node[\\/]axios\.cjs$/.test(importer)) return `\0lazy:${id}`;
        },
      },
      load: {
        filter: { id: /^\0lazy:/ },
        handler(id) {
          const name = id.slice('\0lazy:'.length);
          const load =
            name === 'http2' || name === 'child_process'
              ? `require('node:${name}')`
              : `require('node:module').createRequire(require.resolve('axios'))(${JSON.stringify(name)})`;
          return [
            'let loaded;',
            `const load = () => (loaded ??= ${load});`,
            ...(name === 'http2' || name === 'child_process'
              ? // A module object: its members read through to the real one (axios reads `connect` and
                // `constants`, commander `spawn`).
                ['module.exports = new Proxy({}, { get: (_target, key) => load()[key], has: (_target, key) => key in load() });']
              : // A class: constructed, or asked `instanceof`, it is the real one.
                [
                  'function Lazy(...args) { return new (load())(...args); }',
                  'Object.defineProperty(Lazy, Symbol.hasInstance, { value: (value) => value instanceof load() });',
                  'module.exports = Lazy;',
                ]),
          ].join('\n');
        },
      },
    },
    {
      // Each bundled CommonJS module (axios.cjs, commander, pino, prom-client and their files) is a
      // function the bundle calls on its first require. Written as an arrow, V8 pre-parses it with
      // its chunk and parses it again when it is called; written as a parenthesised `function`, V8
      // compiles it with its chunk, once. axios.cjs (261 KB) is the one that counts: importing
      // dist/http/axios.js in a fresh process, 52.7 -> 45.1 ms of CPU (medians of 10, alternated), a
      // 3-profile push's own process 393 -> 376 ms (11 rounds, load ~3); pino's chunk the same, and
      // prom-client's, most of whose files load only when metrics are made, +1.5 ms to import. In
      // strict code (an ES module) `this` in either is undefined, and the bundle calls it with
      // (exports, module) as Node calls its own wrapper. Only that one line of each changes, so the
      // source maps still hold.
      name: 'eager-cjs-wrappers',
      renderChunk(code) {
        const eager = code.replace(/^(var require_[\w$]+ = (?:\/\* @__PURE__ \*\/ )?__commonJSMin\()\(\((exports(?:, module)?)\) => \{$/gm, '$1(function ($2) {');
        return eager === code ? null : { code: eager, map: null };
      },
    },
    {
      name: 'depth',
      generateBundle(_options, bundle) {
        const misplaced = Object.keys(bundle).filter((file) => file.endsWith('.js') && file.split('/').length !== 2);
        if (misplaced.length > 0) this.error(`every file of dist/ must sit in dist/<folder>/ (import.meta.url paths depend on it): ${misplaced.join(', ')}`);
      },
    },
  ],
  output: {
    dir: process.env.SYNC_BUILD_DIR ?? 'dist',
    cleanDir: true,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    // Otherwise chunks are formed by who loads them. commander's is named: a test checks that push's
    // keeper is forked before it loads (test/cli/keeper-ahead.e2e.test.ts).
    //
    // `main`: the small modules dist/cli/main.js imports itself (errors, the run id, the exit and
    // history wrappers, the broken-pipe and quick-exit handling…), 17 KB, which every run of every
    // command loads. Formed by who loads them they were 10 chunks of 1–5 KB (other commands and
    // entries share some of them), and each module file costs Node a resolve, an open/read/close
    // and a link: 17 -> 7 files for `--version`, 47 -> 37 for a push, 29 -> 19 for `mock
    // downstream`; measured ~3% less CPU for each (11 rounds alternated, load 6-7). Their own
    // imports stay where they were (includeDependenciesRecursively: false), so nothing else moves in.
    codeSplitting: {
      groups: [
        { name: 'commander', test: /node_modules[\\/]commander[\\/]/ },
        {
          name: 'main',
          test: /src[\\/](cli[\\/](broken-pipe|quick-exit|run-args)|errors|telemetry[\\/](exit-metrics|run-gauges)|logging[\\/](redact|run-id)|history[\\/]unrecorded-run|io[\\/]atomic-write|state[\\/]state-dir)\.ts$/,
          includeDependenciesRecursively: false,
        },
      ],
    },
    // Stack traces under --verbose name src/ files and lines (the launchers in bin/ turn source maps on).
    sourcemap: true,
    // Lines and names only: the sources are in the repository, not in the package.
    sourcemapExcludeSources: true,
    // Every file of dist/ in ASCII: one character past ASCII (a `·` in a string, a `—` in a comment)
    // and Node decodes the whole file into a two-byte string, which V8 then scans as one. The
    // decoding alone was 21 ms of a 3-profile push's process (7 ms after), and most chunks held a
    // few such characters. Strings keep their values (escaped as \u…); the comments left out are
    // JSDoc and bundler annotations, read by no one at run time (licences stay).
    charset: 'ascii',
    comments: { legal: true, annotation: false, jsdoc: false },
  },
});
