import nock from 'nock';
import { afterEach, beforeAll } from 'vitest';

// Unit tests never reach the network; end-to-end tests talk to our own mocks on 127.0.0.1.
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

afterEach(() => {
  nock.cleanAll();
});
