import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/logging/logger.js';
import { LmdbStateStore } from '../../src/state/lmdb-state-store.js';
import { forgetState, forgotSentence, showState } from '../../src/state/state-commands.js';
import { UsageError } from '../../src/errors.js';

describe('showState', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const tmp = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-show-'));
    dirs.push(dir);
    return dir;
  };
  const logger = () => ({ warn: vi.fn(), info: vi.fn() }) as unknown as Logger & { warn: ReturnType<typeof vi.fn> };

  it('a directory holding no state (a mistyped --state) is said, not answered as "nothing remembered" in silence', async () => {
    const log = logger();
    const stateDir = join(tmp(), 'nope');
    const shown = await showState({ stateDir, downstreamUrl: 'http://127.0.0.1:4020' }, ['ann@example.com'], log);
    expect(shown).toEqual([{ email: 'ann@example.com', remembered: false }]);
    expect(log.warn).toHaveBeenCalledOnce();
    expect(log.warn.mock.calls[0]![1]).toBe(`no state in ${stateDir}: nothing is remembered there for any platform (is --state or SYNC_STATE_DIR right?)`);
  });

  it('an existing state answers without the warning', async () => {
    const log = logger();
    const stateDir = tmp();
    await (await LmdbStateStore.open(stateDir, 'sync http://127.0.0.1:4020'))!.close();
    await showState({ stateDir, downstreamUrl: 'http://127.0.0.1:4020' }, ['ann@example.com'], log);
    expect(log.warn).not.toHaveBeenCalled();
  });
});

describe('state commands on a platform whose URL serves every account', () => {
  const logger = { warn: vi.fn(), info: vi.fn() } as unknown as Logger;

  it.each([
    ['the default URL', undefined],
    ['--downstream-url', 'http://127.0.0.1:4030'],
  ])('without SYNC_DOWNSTREAM_TOKEN the account is unknown (%s): exit 2 naming the variable, not "nothing remembered"', async (_, downstreamUrl) => {
    const target = { stateDir: join(tmpdir(), 'sync-never-opened'), to: 'hubspot', downstreamUrl };
    const refusal = 'SYNC_DOWNSTREAM_TOKEN is required with --to hubspot: it names the HubSpot account whose state this is';
    await expect(showState(target, ['ann@example.com'], logger)).rejects.toThrow(new UsageError(refusal));
    await expect(forgetState(target, 'all', logger)).rejects.toThrow(new UsageError(refusal));
  });

  it('with the token, the account it names', async () => {
    const shown = await showState({ stateDir: join(tmpdir(), 'sync-never-opened'), to: 'hubspot', credential: 'pat-na1-token' }, ['ann@example.com'], logger);
    expect(shown).toEqual([{ email: 'ann@example.com', remembered: false }]);
  });
});

describe('forgotSentence', () => {
  const platform = 'http://127.0.0.1:4020';

  it('says what the next push sends again', () => {
    expect(forgotSentence(1, platform, ['ann@example.com'])).toBe(`Forgot 1 profile of ${platform}: the next push sends it again.`);
    expect(forgotSentence(3, platform, 'all')).toBe(`Forgot 3 profiles of ${platform}: the next push sends them again.`);
  });

  it('forgetting nothing promises no send: it says the emails were not remembered', () => {
    expect(forgotSentence(0, platform, ['ann@example.com'])).toBe(`Nothing to forget: that email is not remembered for ${platform}.`);
    expect(forgotSentence(0, platform, ['ann@example.com', 'bo@example.com'])).toBe(`Nothing to forget: none of those emails is remembered for ${platform}.`);
    expect(forgotSentence(0, platform, 'all')).toBe(`Nothing to forget: no profile of ${platform} is remembered.`);
  });
});
