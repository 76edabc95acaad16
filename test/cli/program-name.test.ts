import { afterEach, describe, expect, it } from 'vitest';
import { programName, setProgramName } from '../../src/cli/program-name.js';

describe('programName', () => {
  afterEach(() => setProgramName('sync', {}));

  it('is the name the launcher gives', () => {
    setProgramName('sync-cli', {});
    expect(programName()).toBe('sync-cli');
  });

  it('is `npx NAME` when npx started this very program (it quotes the name it ran)', () => {
    setProgramName('sync', { npm_lifecycle_event: 'npx', npm_lifecycle_script: "'sync'" });
    expect(programName()).toBe('npx sync');
    setProgramName('sync-cli', { npm_lifecycle_event: 'npx', npm_lifecycle_script: 'sync-cli demo' });
    expect(programName()).toBe('npx sync-cli');
  });

  it('is the plain name when npx started something else that started it, or npm ran a script', () => {
    setProgramName('sync', { npm_lifecycle_event: 'npx', npm_lifecycle_script: "'vitest'" });
    expect(programName()).toBe('sync');
    setProgramName('sync', { npm_lifecycle_event: 'test', npm_lifecycle_script: 'sync demo' });
    expect(programName()).toBe('sync');
  });
});
