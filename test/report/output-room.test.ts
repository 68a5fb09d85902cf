import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { stdoutRoom } from '../../src/report/output-room.js';

describe('room in stdout for more rows', () => {
  it('none once more than the limit waits for the reader; room again when the reader has taken it', async () => {
    // A pipe's stream as Node keeps it: what the reader has not taken waits in the queue.
    const out = new PassThrough({ readableHighWaterMark: 1024, writableHighWaterMark: 1024 });
    const room = stdoutRoom(out as unknown as NodeJS.WriteStream, 64 * 1024);
    out.write(Buffer.alloc(32 * 1024));
    expect(room()).toBeNull();
    for (let i = 0; i < 4; i++) out.write(Buffer.alloc(32 * 1024));
    const wait = room();
    expect(wait).not.toBeNull();
    let settled = false;
    void wait!.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    out.resume();
    await wait;
    expect(out.writableLength).toBe(0);
    expect(room()).toBeNull();
  });

  it('a stream that closes ends the wait (the closed pipe is dealt with elsewhere)', async () => {
    const out = new PassThrough({ readableHighWaterMark: 1024, writableHighWaterMark: 1024 });
    const room = stdoutRoom(out as unknown as NodeJS.WriteStream, 1024);
    out.write(Buffer.alloc(8 * 1024));
    const wait = room();
    expect(wait).not.toBeNull();
    out.destroy();
    await wait;
  });
});
