import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { defaultStateDir } from '../../src/state/state-dir.js';

const fallback = join(homedir(), '.local', 'state', 'sync');

describe('defaultStateDir', () => {
  it('is $XDG_STATE_HOME/sync when it is an absolute path', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/var/lib/state' })).toBe('/var/lib/state/sync');
  });

  it('is ~/.local/state/sync without $XDG_STATE_HOME, or with an empty or relative one (the XDG spec ignores those)', () => {
    expect(defaultStateDir({})).toBe(fallback);
    expect(defaultStateDir({ XDG_STATE_HOME: '' })).toBe(fallback);
    expect(defaultStateDir({ XDG_STATE_HOME: 'state/' })).toBe(fallback);
  });

  it('reads the process environment by default', () => {
    vi.stubEnv('XDG_STATE_HOME', '/srv/state');
    try {
      expect(defaultStateDir()).toBe('/srv/state/sync');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
