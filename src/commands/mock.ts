import type { Command } from 'commander';
import { registerBrazeMock } from './mock/braze.js';
import { registerCustomerioMock } from './mock/customerio.js';
import { registerDownstreamMock } from './mock/downstream.js';
import { registerHubspotMock } from './mock/hubspot.js';
import { registerIterableMock } from './mock/iterable.js';
import { registerMailchimpMock } from './mock/mailchimp.js';
import { registerReqresMock } from './mock/reqres.js';

/** `sync mock …`: local servers that imitate every remote side; one file each under mock/. */
export function registerMock(program: Command): void {
  const mock = program.command('mock').description('local servers that imitate the remote sides, with failure injection');
  registerReqresMock(mock);
  registerDownstreamMock(mock);
  registerHubspotMock(mock);
  registerMailchimpMock(mock);
  registerBrazeMock(mock);
  registerCustomerioMock(mock);
  registerIterableMock(mock);
}
