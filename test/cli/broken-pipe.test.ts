import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { keepRunningOnBrokenStderr } from '../../src/cli/broken-pipe.js';

const failure = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`write ${code}`), { code });

describe('keepRunningOnBrokenStderr', () => {
  it('takes EPIPE on stderr quietly (no listener would end the process), and lets any other stream error through', () => {
    const stream = new EventEmitter() as unknown as NodeJS.WriteStream;
    keepRunningOnBrokenStderr(stream);
    expect(() => stream.emit('error', failure('EPIPE'))).not.toThrow();
    expect(() => stream.emit('error', failure('EIO'))).toThrow('write EIO');
  });
});
