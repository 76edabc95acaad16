import { createRequire } from 'node:module';
import type { AxiosStatic } from 'axios';

/**
 * Node makes these globals on first use, by compiling the undici bundle it carries (30–90 ms of
 * CPU here). axios reads them while loading, only to decide whether its fetch adapter could run
 * and to recognise a WHATWG FormData body; neither is used here (requests go through the http
 * adapter with string bodies).
 */
const LAZY_WEB_GLOBALS = ['FormData', 'Request', 'Response'] as const;

/**
 * axios, loaded as its one-file CommonJS build instead of its ES modules (66 files): measured
 * (`/usr/bin/time`, 9 runs, load ~7) 0.44 s of CPU for a bare `import('axios')` against 0.29 s
 * for the CommonJS build and 0.19–0.38 s without compiling undici, `node -e 0` being 0.15 s. Every
 * `sync push`, `pull` and `serve` pays it before its first request. The same axios as `import
 * axios from 'axios'` in every way but the module graph; errors are told apart by their
 * `isAxiosError`/`__CANCEL__` marks, not by class identity, so the two copies never meet.
 */
export const axios: AxiosStatic = withoutLazyWebGlobals(() => createRequire(import.meta.url)('axios') as AxiosStatic);

/** Runs `load` with the lazy web globals out of sight (read as undefined), then puts them back as they were. */
export function withoutLazyWebGlobals<T>(load: () => T): T {
  const hidden = LAZY_WEB_GLOBALS.flatMap((name) => {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    if (!descriptor?.configurable) return [];
    Object.defineProperty(globalThis, name, { value: undefined, configurable: true, writable: true, enumerable: descriptor.enumerable });
    return [[name, descriptor] as const];
  });
  try {
    return load();
  } finally {
    for (const [name, descriptor] of hidden) Object.defineProperty(globalThis, name, descriptor);
  }
}
