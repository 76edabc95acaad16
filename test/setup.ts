import nock from 'nock';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { removeStateHomes } from './helpers/cli.js';

// Unit tests never reach the network; end-to-end tests talk to our own mocks on 127.0.0.1.
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

afterEach(() => {
  nock.cleanAll();
});

// The states every spawned or in-process run got (helpers/cli.ts childEnv), after each file.
afterAll(removeStateHomes);

// A passing run prints nothing but its results: a Node warning (listeners piling up on a signal, a
// deprecation) fails the file it came from instead of scrolling by in the middle of the output.
const warnings: string[] = [];
const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
beforeAll(() => {
  process.on('warning', onWarning);
});
afterAll(async () => {
  // Node emits a warning on the next tick: let the last test's arrive.
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  expect(warnings, 'Node warnings printed while this file ran').toEqual([]);
});
