/**
 * The connect stage tries the addresses the way twext's GAIEndpoint does (src/net/connect.ts):
 * one attempt per address, a turn apart, the first to connect wins. On 127.0.0.1 only: a port
 * with no listener refuses at once, a listening one accepts.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTcp } from '../../src/net/connect.js';
import { StageRunner } from '../../src/net/stage.js';

let server: net.Server;
let open = 0;
let closed = 0;

beforeAll(async () => {
  server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open = (server.address() as net.AddressInfo).port;
  // A port that was open a moment ago and is not now: refused.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closed = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/**
 * A port on 127.0.0.1 that neither accepts nor refuses: a listener that never accepts, with a
 * backlog of 0, whose queue is filled first, so the kernel drops further SYNs (a black hole).
 */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)']);
  const fillers: net.Socket[] = [];
  const close = (): void => {
    for (const f of fillers) f.destroy();
    py.kill();
  };
  const port = await new Promise<number>((r) => py.stdout.once('data', (d) => r(Number(String(d).trim()))));
  let holed = false;
  for (let i = 0; i < 8 && !holed; i++) {
    const f = net.connect({ host: '127.0.0.1', port });
    fillers.push(f);
    f.on('error', () => undefined);
    holed = await new Promise<boolean>((r) => {
      f.once('connect', () => r(false));
      setTimeout(() => r(true), 300);
    });
  }
  if (!holed) close();
  expect(holed, 'the queue of a listener that never accepts fills up').toBe(true);
  return { port, close };
}

describe('connectTcp', () => {
  it('connects through a later address when an earlier one refuses, and lists both', async () => {
    const runner = new StageRunner(5000);
    // 127.0.0.2 is loopback too, with nothing listening on this port: refused at once.
    const sock = await runner.run('connect', (s) =>
      connectTcp({ host: 'mail.example.test', port: open }, [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }], s),
    );
    expect(sock?.remoteAddress).toBe('127.0.0.1');
    sock?.destroy();
    expect(runner.stages[0]!.evidence).toMatchObject({
      address: '127.0.0.1',
      tried: [{ address: '127.0.0.2', error: 'ECONNREFUSED' }, { address: '127.0.0.1' }],
    });
  });

  it('is not held up by an address that never answers: the next one connects within the stage', async () => {
    const hole = await blackHole();
    const other = net.createServer((sock) => sock.destroy());
    try {
      await new Promise<void>((r) => other.listen(hole.port, '127.0.0.2', r));
      const runner = new StageRunner(3000);
      const sock = await runner.run('connect', (s) =>
        connectTcp({ host: 'mail.example.test', port: hole.port }, [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }], s),
      );
      expect(runner.failure).toBeNull();
      expect(sock?.remoteAddress).toBe('127.0.0.2');
      sock?.destroy();
      expect(runner.stages[0]!.evidence.tried).toEqual([{ address: '127.0.0.1', cancelled: true }, { address: '127.0.0.2' }]);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
      hole.close();
    }
  });

  it('fails with the last address\'s error when none connects, every attempt in the evidence', async () => {
    const runner = new StageRunner(5000);
    const sock = await runner.run('connect', (s) => connectTcp({ host: 'mail.example.test', port: closed }, [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.1', family: 4 }], s));
    expect(sock).toBeUndefined();
    expect(runner.failure).toMatchObject({ stage: 'connect', kind: 'refused' });
    expect(runner.failure!.evidence.tried).toEqual([
      { address: '127.0.0.1', error: 'ECONNREFUSED' },
      { address: '127.0.0.1', error: 'ECONNREFUSED' },
    ]);
  });

  it('an address after the winner is never tried, and says so', async () => {
    const runner = new StageRunner(5000);
    const addresses = [1, 2, 3, 4, 5].map(() => ({ address: '127.0.0.1', family: 4 }));
    const sock = await runner.run('connect', (s) => connectTcp({ host: 'mail.example.test', port: open }, addresses, s));
    sock?.destroy();
    const tried = runner.stages[0]!.evidence.tried as Array<Record<string, unknown>>;
    expect(tried[0]).toEqual({ address: '127.0.0.1' });
    // Started a turn apart: the first connects before the later ones begin, or they are cancelled.
    for (const t of tried.slice(1)) expect(t.notTried === true || t.cancelled === true, JSON.stringify(t)).toBe(true);
  });

  it('a stage that has already ended settles at once, trying nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stage over'));
    const scope = { evidence: {}, signal: ac.signal } as unknown as Parameters<typeof connectTcp>[2];
    const three = [1, 2, 3].map(() => ({ address: '127.0.0.1', family: 4 }));
    await expect(connectTcp({ host: 'mail.example.test', port: open }, three, scope)).rejects.toThrow('stage over');
    expect((scope.evidence as Record<string, unknown>).tried).toEqual(three.map(() => ({ address: '127.0.0.1', notTried: true })));
  });

  it('a stage that times out mid-race shows each attempt as it stood', async () => {
    const hole = await blackHole();
    try {
      const runner = new StageRunner(500);
      const sock = await runner.run('connect', (s) => connectTcp({ host: 'mail.example.test', port: hole.port }, [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.1', family: 4 }], s));
      expect(sock).toBeUndefined();
      expect(runner.failure?.kind).toBe('timeout');
      expect(runner.failure!.evidence.tried).toEqual([
        { address: '127.0.0.1', error: 'no answer' },
        { address: '127.0.0.1', error: 'no answer' },
      ]);
    } finally {
      hole.close();
    }
  });
});
