import { describe, expect, it } from 'vitest';
import { keepAliveEveryMs, waitForRoom } from '../../src/mailbox/keep-alive.js';

describe('a read waiting for room in the output', () => {
  it('goes on at once, saying nothing, when there is room (or no one asks)', async () => {
    let noops = 0;
    const noop = async (): Promise<void> => void noops++;
    expect(await waitForRoom(undefined, noop, 10)).toBe(0);
    expect(await waitForRoom(() => null, noop, 10)).toBe(0);
    expect(noops).toBe(0);
  });

  it('says NOOP at its pace while it waits, and goes on once the output has drained', async () => {
    let noops = 0;
    let drained = false;
    const room = new Promise<void>((resolve) => setTimeout(() => {
      drained = true;
      resolve();
    }, 260));
    const sent = await waitForRoom(() => room, async () => {
      expect(drained).toBe(false);
      noops++;
    }, 50);
    expect(drained).toBe(true);
    expect(sent).toBe(noops);
    // Every 50 ms for 260 ms: five at most (fewer on a loaded machine, never none).
    expect(noops).toBeGreaterThanOrEqual(1);
    expect(noops).toBeLessThanOrEqual(5);
  });

  it('ends with the error of a NOOP the server refused or a session that broke', async () => {
    const never = new Promise<void>(() => undefined);
    await expect(waitForRoom(() => never, () => Promise.reject(new Error('the server closed the connection')), 5)).rejects.toThrow('the server closed the connection');
  });

  it('says NOOP twice per --timeout, never more than every 100 ms nor less than every 20 s', () => {
    expect(keepAliveEveryMs(1000)).toBe(500);
    expect(keepAliveEveryMs(30_000)).toBe(15_000);
    expect(keepAliveEveryMs(120_000)).toBe(20_000);
    expect(keepAliveEveryMs(50)).toBe(100);
  });
});
