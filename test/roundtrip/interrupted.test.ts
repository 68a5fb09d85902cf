/**
 * `send-test --reply-from` stopped by a signal (Ctrl-C, SIGTERM from systemd or `timeout`, SIGHUP)
 * on the real Postfix + Dovecot stack: the CLI runs as a child process, gets the signal at a given
 * point of the round trip, removes what the run created (the invitation in the attendee mailbox,
 * the reply in the gateway mailbox if it was sent), says so in one line, ends its output as a
 * whole (a --json document, a Nagios UNKNOWN line, imip_up 0) and exits 130, 143 or 129 (Nagios 3).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailboxCount, purgeMailbox, ROUND_TRIP_USERS as U, startRoundTripStack, stopStack, type StackInfo } from '../mailstack/stack.js';
import { roundTripConfig } from './config.js';
import { BIN } from '../helpers/cli.js';
import { startRelay, type Relay } from '../helpers/relay.js';
import { tempDir } from '../helpers/plist.js';

let on: StackInfo;

beforeAll(async () => {
  on = await startRoundTripStack({ base: 18000 });
}, 60_000);

afterAll(async () => {
  if (on) await stopStack(on, { remove: true });
}, 60_000);


interface Interrupted {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whether the signal was sent (the condition was met while the run was still going). */
  signalled: boolean;
}

/**
 * Run the round trip in a child process; send `sig` once `when` says so (it is asked every 50 ms
 * with the output so far), and wait for the child to end.
 */
async function interruptedRoundTrip(
  sig: NodeJS.Signals,
  extra: string[],
  when: (stdout: string) => Promise<boolean>,
  pop = false,
  gatewayPort?: number,
  signals = 1,
  attendeePort = on.ports.imaps,
): Promise<Interrupted> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, IMIP_CONFIG: undefined, IMIP_REPLY_PASSWORD: U.attendee.password };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const args = [
    BIN,
    'send-test',
    '--config', roundTripConfig(on, { pop, ...(gatewayPort !== undefined ? { gatewayPort } : {}) }),
    '--to', U.attendee.address,
    '--reply-from', `imaps://${U.attendee.address}@${on.host}:${attendeePort}`,
    '--reply-submit', `submission://${U.attendee.address}@${on.host}:${on.ports.smtp}`,
    '--ca-file', on.ca,
    '--state-dir', tempDir('imip-rt-sig-state-'),
    '--timeout', '5',
    '--client', 'outlook',
    '--wait-reply', '60',
    ...extra,
  ];
  const child = spawn(process.execPath, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let ended = false;
  const closed = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      ended = true;
      resolve(code);
    }),
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), 80_000);
  let signalled = false;
  while (!ended) {
    if (await when(stdout)) {
      if (!ended) {
        child.kill(sig);
        signalled = true;
        // A second signal, once the first has been taken (its line is on stderr).
        for (let i = 0; signals > 1 && i < 100 && !ended && !stderr.includes('send it again'); i++) await new Promise((r) => setTimeout(r, 20));
        if (signals > 1 && !ended) child.kill(sig);
      }
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const code = await closed;
  clearTimeout(killer);
  return { code, stdout, stderr, signalled };
}

/**
 * A slow way to the gateway mailbox: every answer of the server comes `ms` late, so the run looks
 * at the mailbox well after the reply has landed there, and the signal can come in between.
 */
async function slowProxy(port: number, ms: number, hold: { on: boolean } = { on: false }): Promise<Relay> {
  return startRelay(
    { host: on.host, port },
    (d, client) => {
      if (hold.on) return;
      setTimeout(() => {
        if (!client.destroyed && !hold.on) client.write(d);
      }, ms);
    },
    { dropAfterServerCloseMs: ms + 10 },
  );
}

/** Time the child takes from the signal to its end. */
async function stalledGateway(signals: number): Promise<Interrupted & { afterSignal: number }> {
  await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
  // Once the reply has landed the gateway mailbox answers nothing more: neither the watcher nor
  // the cleanup can read it or remove the reply.
  const hold = { on: false };
  const proxy = await slowProxy(on.ports.imaps, 100, hold);
  let signalledAt = 0;
  try {
    const r = await interruptedRoundTrip('SIGINT', ['--json'], async () => {
      if ((await mailboxCount(on, U.calendar.address)) === 0) return false;
      hold.on = true;
      signalledAt = Date.now();
      return true;
    }, false, proxy.port, signals);
    return { ...r, afterSignal: Date.now() - signalledAt };
  } finally {
    proxy.close();
  }
}

const attendeeBox = `imaps://${U.attendee.address.replace(/\./g, '\\.')}@`;

describe('send-test --reply-from stopped by a signal', () => {
  it('SIGINT while waiting for the invitation: it is removed from the attendee mailbox, one line says so, exit 130', async () => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
    const r = await interruptedRoundTrip('SIGINT', [], async (out) => out.includes('… round trip: waiting up to 60 s'));
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`^imip: interrupted by SIGINT while waiting for the invitation at ${attendeeBox}.*; removed the test invitation from ${attendeeBox}[^;]*; no reply had been sent$`, 'm'));
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(r.stderr).not.toContain(U.attendee.password);
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
    expect(await mailboxCount(on, U.calendar.address)).toBe(0);
  }, 90_000);

  it('SIGTERM once the reply is in the POP3 gateway mailbox (--json): both messages removed, the document says so, exit 143', async () => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
    // The reply has landed; the run, reading the mailbox through a slow link, has not finished with it.
    const proxy = await slowProxy(on.ports.pop3s, 150);
    let r: Interrupted;
    try {
      r = await interruptedRoundTrip('SIGTERM', ['--json'], async () => (await mailboxCount(on, U.calendar.address)) > 0, true, proxy.port);
    } finally {
      proxy.close();
    }
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(143);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ command: 'send-test', ok: false, interrupted: 'SIGTERM', exitCode: 143 });
    expect(doc.error).toMatch(/^interrupted by SIGTERM .*removed the test invitation from imaps:.*; removed the test reply from the gateway mailbox POP3 /);
    expect(doc.roundTrip.cleanup).toMatchObject({ attendee: { removed: 'expunged' }, gateway: { removed: 'dele' } });
    expect(doc.roundTrip.exitCode).toBe(143);
    expect(r.stderr).toContain(`imip: ${doc.error}`);
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
    expect(await mailboxCount(on, U.calendar.address)).toBe(0);
  }, 90_000);

  it.each([
    ['SIGHUP', ['--format', 'nagios'], 3],
    ['SIGINT', ['--format', 'prometheus'], 130],
  ] as Array<[NodeJS.Signals, string[], number]>)('%s under %j once the invitation is delivered: cleaned up, UNKNOWN / imip_up 0, exit %i', async (sig, extra, expected) => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
    // A slow gateway mailbox keeps the run going after the delivery, so the signal comes during it.
    const proxy = await slowProxy(on.ports.imaps, 100);
    let r: Interrupted;
    try {
      r = await interruptedRoundTrip(sig, extra, async () => (await mailboxCount(on, U.attendee.address)) > 0, false, proxy.port);
    } finally {
      proxy.close();
    }
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(expected);
    if (extra[1] === 'nagios') {
      expect(r.stdout).toMatch(new RegExp(`^IMIP UNKNOWN - send-test: interrupted by ${sig} `));
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
    } else {
      expect(r.stdout).toMatch(/^imip_up\{command="send-test"\} 0$/m);
    }
    expect(r.stderr).toMatch(new RegExp(`^imip: interrupted by ${sig} .*removed the test invitation from ${attendeeBox}`, 'm'));
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
    expect(await mailboxCount(on, U.calendar.address)).toBe(0);
  }, 90_000);

  it('a gateway mailbox that stops answering: the cleanup ends within --timeout and says the reply is left, and where', async () => {
    const r = await stalledGateway(1);
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(130);
    // --timeout 5: the cleanup's bound, plus the start of the process's exit.
    expect(r.afterSignal).toBeLessThan(8_000);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ interrupted: 'SIGINT', exitCode: 130 });
    expect(doc.error).toMatch(/removed the test invitation from imaps:/);
    expect(doc.error).toMatch(/could not remove the test reply \(Message-ID <[^>]+>\) from the gateway mailbox IMAP [^:]+:\d+: .*; delete it by hand/);
    expect(r.stderr).toContain(`imip: ${doc.error}`);
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
    // Left, as said: only the reply.
    expect(await mailboxCount(on, U.calendar.address)).toBe(1);
    await purgeMailbox(on, U.calendar.address);
  }, 90_000);

  it('a second signal during the cleanup: exits at once, saying what may be left', async () => {
    const r = await stalledGateway(2);
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(130);
    expect(r.afterSignal).toBeLessThan(3_000);
    expect(r.stderr).toMatch(/^imip: interrupted by SIGINT again .*stopping at once: .*the test reply \(Message-ID <[^>]+>\) may be left in the gateway mailbox IMAP [^,]+, where Calendar Server may process it; delete/m);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ interrupted: 'SIGINT', exitCode: 130 });
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
  }, 90_000);

  it('an attendee mailbox that stops answering: the signal does not wait for it; the cleanup ends within --timeout and says the invitation is left', async () => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
    const hold = { on: false };
    // A slow link first, so that the run is still looking for the invitation when the link goes silent.
    const proxy = await slowProxy(on.ports.imaps, 100, hold);
    let signalledAt = 0;
    let r: Interrupted;
    try {
      r = await interruptedRoundTrip('SIGTERM', [], async (out) => {
        if (!out.includes('… round trip: waiting')) return false;
        hold.on = true;
        signalledAt = Date.now();
        return true;
      }, false, undefined, 1, proxy.port);
    } finally {
      proxy.close();
    }
    const after = Date.now() - signalledAt;
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(143);
    expect(after).toBeLessThan(8_000);
    // Where it was depends on how fast the invitation came (the reply, if sent, is removed as usual).
    expect(r.stderr).toMatch(/^imip: interrupted by SIGTERM while waiting for the (invitation|reply) [^;]*; could not remove the test invitation \(Message-ID <[^>]+>\) from imaps:\/\/probe@remote\.test@[^:]+:\d+: the cleanup did not finish within 5 s \(--timeout\); delete it by hand; (no reply had been sent|removed the test reply from the gateway mailbox IMAP [^;]+)$/m);
    expect(await mailboxCount(on, U.calendar.address)).toBe(0);
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
  }, 90_000);
});
