// Time limits that do not blame the server for this process's own delays. When the process is
// busy past a step's limit (a loaded machine, modules loading while a connection opens), the
// server's answer is already waiting by the time the clock is looked at: the step must succeed.
// A server that really stays silent must still time out.
//
// Each case makes the answer arrive in the kernel while this process blocks its event loop, the
// way a busy process sees it: the server's bytes are written synchronously to a loopback socket
// (or the kernel completes a TCP handshake by itself), then the loop is blocked past the limit.
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, test } from 'vitest';
import { startDeadline } from '../../src/clients/deadline.js';
import { Pop3Client } from '../../src/clients/pop3/index.js';
import { ImapDeadline } from '../../src/mailbox/imap-deadline.js';
import { StageRunner } from '../../src/net/stage.js';
import { StageError } from '../../src/net/errors.js';
import type { ImapFlow } from 'imapflow';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** Keep the event loop from running for `ms`, as a busy process does. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

/**
 * Run `start` from the check phase of the event loop (a setImmediate callback), so that the next
 * thing the loop does is its timers phase: a limit that has passed is looked at before any I/O,
 * which is the order in which a plain timer blames the server.
 */
function fromCheckPhase<T>(start: () => T): Promise<T> {
  return new Promise((resolve) => setImmediate(() => resolve(start())));
}

/**
 * From the check phase: start a step, let its answer arrive (`answer` writes it from the server's
 * side; nothing to write when the kernel answers, as for a TCP connect), and keep the process busy
 * for `ms`, past the step's limit. The loop then meets the limit before the answer. Returns what
 * `start` returned.
 */
async function answeredWhileBusy<T>(start: () => T, answer: () => void, ms: number): Promise<T> {
  // In a tuple, so that a promise from `start` is not awaited here.
  const [step] = await fromCheckPhase(() => {
    const s = start();
    answer();
    busy(ms);
    return [s] as const;
  });
  return step;
}

/** A connected pair on 127.0.0.1: the client socket and the server's side of it. */
async function pair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  const [server] = (await once(srv, 'connection')) as [net.Socket];
  if (client.connecting) await once(client, 'connect');
  cleanup.push(() => {
    client.destroy();
    server.destroy();
    srv.close();
  });
  return { client, server };
}

describe('startDeadline', () => {
  test('expires when nothing arrives, and never after clear()', async () => {
    let fired = 0;
    const kept = startDeadline(20, () => fired++);
    const cleared = startDeadline(20, () => fired++);
    cleared.clear();
    await new Promise((r) => setTimeout(r, 80));
    expect(fired).toBe(1);
    kept.clear();
  });

  test('an answer that arrived while the process was busy wins over the limit', async () => {
    const { client, server } = await pair();
    let expired = false;
    const answered = once(client, 'data');
    const limit = await answeredWhileBusy(() => startDeadline(30, () => (expired = true)), () => server.write('* OK ready\r\n'), 150);
    // The answer is handled before the expiry, and stops the limit.
    await answered;
    limit.clear();
    expect(expired).toBe(false);
  });
});

describe('StageRunner', () => {
  test('a greeting waiting in the socket when the limit passes is a success, not "timed out"', async () => {
    const { client, server } = await pair();
    const runner = new StageRunner(50);
    const greeting = answeredWhileBusy(
      () =>
        runner.run('greeting', () => once(client, 'data').then(([d]) => String(d)), {
          onTimeout: (ms) => new StageError('timeout', `IMAP greeting timed out after ${ms} ms`),
        }),
      () => server.write('* OK ready\r\n'),
      200,
    );
    expect(await greeting).toBe('* OK ready\r\n');
    expect(runner.failure).toBeNull();
  });

  test('a server that stays silent still times out, with the stage named', async () => {
    const { client } = await pair();
    const runner = new StageRunner(50);
    const greeting = await runner.run('greeting', () => once(client, 'data'), {
      onTimeout: (ms) => new StageError('timeout', `IMAP greeting timed out after ${ms} ms`),
    });
    expect(greeting).toBeUndefined();
    expect(runner.failure).toMatchObject({ stage: 'greeting', kind: 'timeout', error: 'IMAP greeting timed out after 50 ms' });
  });

  test('a stage of several round trips: each answer starts the limit again (progress), their sum may exceed it', async () => {
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const steps = async (s: { progress(): void }, report: boolean): Promise<string> => {
      for (let i = 0; i < 4; i++) {
        await sleep(60); // each answer comes after 60% of the limit
        if (report) s.progress();
      }
      return 'done';
    };
    const paced = new StageRunner(100);
    expect(await paced.run('server-login', (s) => steps(s, true))).toBe('done');
    expect(paced.failure).toBeNull();
    // Without progress the same stage times out: the limit is not reset by itself.
    const unpaced = new StageRunner(100);
    expect(await unpaced.run('server-login', (s) => steps(s, false))).toBeUndefined();
    expect(unpaced.failure).toMatchObject({ stage: 'server-login', kind: 'timeout' });
    // A server that goes silent after an answer still times out, one limit after that answer.
    const silent = new StageRunner(100);
    const started = Date.now();
    expect(
      await silent.run('server-login', async (s) => {
        await sleep(60);
        s.progress();
        await new Promise(() => undefined);
      }),
    ).toBeUndefined();
    expect(silent.failure).toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(155);
  });
});

describe('ImapDeadline (the IMAP session clock)', () => {
  test('bytes that arrived while the process was busy are an answer in time', async () => {
    const { client, server } = await pair();
    const deadline = new ImapDeadline(50, false);
    deadline.attach({ socket: client, close: () => client.destroy() } as unknown as ImapFlow);
    // Busy past the limit and past the clock's next tick (it looks every 200 ms).
    const step = answeredWhileBusy(() => deadline.step('FETCH', () => once(client, 'data').then(([d]) => String(d))), () => server.write('* 1 FETCH (UID 7)\r\n'), 400);
    expect(await step).toBe('* 1 FETCH (UID 7)\r\n');
    expect(deadline.timedOut).toBeNull();
  });

  test('a silent server still times out, naming the stage', async () => {
    const { client } = await pair();
    const deadline = new ImapDeadline(50, false);
    deadline.attach({ socket: client, close: () => client.destroy() } as unknown as ImapFlow);
    await expect(deadline.step('FETCH', () => once(client, 'data'))).rejects.toThrow('IMAP FETCH timed out after 0.05 s');
  });
});

describe('the POP3 client', () => {
  test('a TCP connect the kernel completed while the process was busy is not "connect timed out"', async () => {
    const srv = net.createServer((sock) => {
      sock.on('data', (d) => {
        const verb = String(d).trim().split(' ')[0]!.toUpperCase();
        sock.write(verb === 'CAPA' ? '+OK\r\nUSER\r\n.\r\n' : verb === 'QUIT' ? '+OK bye\r\n' : '-ERR no\r\n');
      });
      sock.on('error', () => undefined);
      sock.write('+OK POP3 ready\r\n');
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    cleanup.push(() => srv.close());
    const port = (srv.address() as net.AddressInfo).port;
    const client = await answeredWhileBusy(() => Pop3Client.connect({ host: '127.0.0.1', port, implicitTls: false, rejectUnauthorized: true, timeoutMs: 50 }), () => undefined, 200);
    await client.quit().catch(() => undefined);
    client.close();
  });
});
