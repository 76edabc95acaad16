import { afterEach, describe, expect, it, vi } from 'vitest';
import { startKeeperAhead } from '../../src/cli/keeper-ahead.js';
import { KeeperClient } from '../../src/state/keeper-client.js';

// The decision only: KeeperClient's own start and takeover are tested in test/state/keeper-client.test.ts.
describe("startKeeperAhead: a push's state process starts before push's modules load", () => {
  afterEach(() => vi.restoreAllMocks());

  it('a push that will open its state: started, and withdrawn (killed) if the run is refused before its action', async () => {
    const kill = vi.fn(async () => undefined);
    const startAhead = vi.spyOn(KeeperClient, 'startAhead').mockImplementation(() => undefined);
    const spawn = vi.spyOn(KeeperClient, 'spawn').mockReturnValue({ kill } as unknown as KeeperClient);
    const withdraw = await startKeeperAhead(['--log-format', 'json', 'push', 'profiles.ndjson', '--downstream-url', 'http://127.0.0.1:1']);
    expect(startAhead).toHaveBeenCalledTimes(1);
    expect(spawn).not.toHaveBeenCalled();
    await withdraw!();
    expect(kill).toHaveBeenCalledTimes(1);
  });

  it.each([
    [['push', 'profiles.ndjson', '--dry-run']],
    [['push', '--help']],
    [['push', '-h']],
    [['pull', '--out', 'x.json']],
    [['mock', 'downstream']],
    [['--version']],
    [['help', 'push']],
  ])('%j: nothing started', async (args) => {
    const startAhead = vi.spyOn(KeeperClient, 'startAhead').mockImplementation(() => undefined);
    expect(await startKeeperAhead(args)).toBeUndefined();
    expect(startAhead).not.toHaveBeenCalled();
  });

  it('`--dry-run` after `--` is a file name, not the flag: the keeper is started', async () => {
    const startAhead = vi.spyOn(KeeperClient, 'startAhead').mockImplementation(() => undefined);
    expect(await startKeeperAhead(['push', '--downstream-url', 'http://127.0.0.1:1', '--', '--dry-run'])).toBeTypeOf('function');
    expect(startAhead).toHaveBeenCalledTimes(1);
  });
});
