/**
 * Every network step is bounded by --timeout plus 1 s, for every command that connects, every
 * protocol and every stage: after connect before the greeting, during and after TLS, after the
 * greeting, during login, after login and in the middle of a command. The error names the
 * protocol and the stage (`IMAP FETCH timed out after 2 s`).
 *
 * The servers are small stalling listeners on 127.0.0.1 (test/doubles/stalling-server.ts): a
 * stall is exactly what no real server does on demand. Their TLS certificate is the test mail
 * stack's, trusted with --ca-file.
 *
 * The time is taken from the moment the stalling server accepts the connection to the command's
 * exit, so Node's start-up and module loading are not counted.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStallingServer, type Protocol, type StallingServer } from '../doubles/stalling-server.js';
import { config, writeConfig } from '../fixtures/diagnose/helpers.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';

const TIMEOUT_S = 3;
/**
 * The bound: --timeout plus 1 s, plus 1 s of scheduling slack on a loaded machine. Measured by
 * the stalling server from the moment a connection goes silent to its close, summed over
 * connections, so neither start-up nor output is counted; a second wait for the same stall (3 s
 * more) fails it, and so does a connection left open after its step timed out.
 */
const BOUND_MS = (TIMEOUT_S + 1) * 1000 + 1000;

interface Stage {
  name: string;
  implicitTls: boolean;
  offerStartTls: boolean;
  stallAt: string;
  partial?: boolean;
}

const mailboxStages = (verbs: { first: string; login: string; after: string; mid: string }): Stage[] => [
  { name: 'after connect, before the greeting', implicitTls: false, offerStartTls: false, stallAt: 'greeting' },
  { name: 'during the TLS handshake (TLS from the first byte)', implicitTls: true, offerStartTls: false, stallAt: 'greeting' },
  { name: 'after TLS, before the greeting', implicitTls: true, offerStartTls: false, stallAt: 'after-tls' },
  { name: `after the greeting (${verbs.first})`, implicitTls: true, offerStartTls: false, stallAt: verbs.first },
  { name: 'during STARTTLS (OK, then no handshake)', implicitTls: false, offerStartTls: true, stallAt: 'starttls' },
  { name: `during login (${verbs.login})`, implicitTls: true, offerStartTls: false, stallAt: verbs.login },
  { name: `after login (${verbs.after})`, implicitTls: true, offerStartTls: false, stallAt: verbs.after },
  { name: `mid-command (${verbs.mid})`, implicitTls: true, offerStartTls: false, stallAt: verbs.mid, partial: true },
];

// Sending: UseSSL true is STARTTLS required (the server never speaks TLS from the first byte on
// SMTP), so every SMTP stall is on a plain port that offers STARTTLS.
const SMTP_STAGES: Stage[] = [
  { name: 'after connect, before the greeting', implicitTls: false, offerStartTls: true, stallAt: 'greeting' },
  { name: 'after the greeting (EHLO)', implicitTls: false, offerStartTls: true, stallAt: 'EHLO' },
  { name: 'during STARTTLS (220, then no handshake)', implicitTls: false, offerStartTls: true, stallAt: 'starttls' },
  { name: 'after TLS (no answer to EHLO)', implicitTls: false, offerStartTls: true, stallAt: 'after-tls' },
  { name: 'during login (AUTH)', implicitTls: false, offerStartTls: true, stallAt: 'AUTH' },
  { name: 'after login (MAIL FROM)', implicitTls: false, offerStartTls: true, stallAt: 'MAIL' },
  { name: 'mid-command (after DATA)', implicitTls: false, offerStartTls: true, stallAt: 'DATA', partial: true },
];

const STAGES: Record<Protocol, Stage[]> = {
  smtp: SMTP_STAGES,
  imap: mailboxStages({ first: 'CAPABILITY', login: 'LOGIN', after: 'EXAMINE', mid: 'FETCH' }),
  pop3: mailboxStages({ first: 'CAPA', login: 'APOP', after: 'UIDL', mid: 'RETR' }),
};

/** Commands that connect, by the protocol a stall is put on; `smtpOk`: SMTP must work meanwhile. */
const COMMANDS: Array<{ name: string; protocols: Protocol[]; args: (cfg: string) => string[]; probe?: boolean }> = [
  { name: 'test-smtp', protocols: ['smtp'], probe: true, args: (cfg) => ['test-smtp', '--config', cfg] },
  { name: 'send-test', protocols: ['smtp'], probe: true, args: (cfg) => ['send-test', '--to', 'attendee@remote.test', '--force', '--config', cfg, '--state-dir', tempDir('imip-stall-')] },
  { name: 'check-config --connect', protocols: ['smtp', 'imap', 'pop3'], probe: true, args: (cfg) => ['check-config', '--connect', '--config', cfg] },
  // The probe reads with TOP, so its mid-command stall is in TOP.
  { name: 'test-mailbox', protocols: ['imap', 'pop3'], probe: true, args: (cfg) => ['test-mailbox', '--config', cfg] },
  { name: 'poll --once', protocols: ['imap', 'pop3'], args: (cfg) => ['poll', '--once', '--config', cfg, '--state-dir', tempDir('imip-stall-')] },
  { name: 'diagnose', protocols: ['imap', 'pop3'], args: (cfg) => ['diagnose', '--config', cfg, '--state-dir', tempDir('imip-stall-')] },
  { name: 'diagnose --probe plus-address', protocols: ['smtp', 'imap', 'pop3'], probe: true, args: (cfg) => ['diagnose', '--probe', 'plus-address', '--config', cfg, '--state-dir', tempDir('imip-stall-')] },
  { name: 'send-test --wait-reply', protocols: ['imap', 'pop3'], args: (cfg) => ['send-test', '--to', 'attendee@remote.test', '--force', '--wait-reply', '8', '--config', cfg, '--state-dir', tempDir('imip-stall-')] },
];

let key = '';
let cert = '';
let ca = '';
const servers: StallingServer[] = [];

beforeAll(() => {
  const stack = getStack();
  key = readFileSync(join(stack.dir, 'tls', 'key.pem'), 'utf8');
  cert = readFileSync(join(stack.dir, 'tls', 'cert.pem'), 'utf8');
  ca = stack.ca;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(protocol: Protocol, stage: Stage | null): Promise<StallingServer> {
  const s = await startStallingServer({
    protocol,
    implicitTls: stage?.implicitTls ?? protocol !== 'smtp',
    offerStartTls: stage?.offerStartTls ?? protocol === 'smtp',
    stallAt: stage?.stallAt ?? 'never',
    ...(stage?.partial ? { partial: true } : {}),
    key,
    cert,
  });
  servers.push(s);
  return s;
}

/** A config: SMTP and the mailbox at the given ports (0: nothing listens, refused at once). */
function cfgFor(o: { smtp: { port: number; host?: string }; mailbox: { protocol: 'imap' | 'pop3'; port: number; implicit: boolean } }): string {
  return writeConfig(
    config('9.2', {
      'Scheduling.iMIP.Sending.Server': o.smtp.host ?? '127.0.0.1',
      'Scheduling.iMIP.Sending.Port': o.smtp.port || 1,
      'Scheduling.iMIP.Sending.UseSSL': true,
      'Scheduling.iMIP.Sending.Address': 'Calendar <calendar@example.test>',
      'Scheduling.iMIP.Sending.Username': 'calendar@example.test',
      'Scheduling.iMIP.Sending.Password': 'Stall-pw-1234',
      // By a name its certificate carries, as SMTP below: on 9.2 an address never matches, and the
      // server's own client (so the tool too) would not read the mailbox at all.
      'Scheduling.iMIP.Receiving.Server': 'localhost',
      'Scheduling.iMIP.Receiving.Port': o.mailbox.port || 1,
      'Scheduling.iMIP.Receiving.UseSSL': o.mailbox.implicit,
      'Scheduling.iMIP.Receiving.Type': o.mailbox.protocol === 'imap' ? 'imap' : 'pop',
      'Scheduling.iMIP.Receiving.Username': 'calendar@example.test',
      'Scheduling.iMIP.Receiving.Password': 'Stall-pw-1234',
    }),
  );
}

async function run(args: string[]): Promise<{ out: string; code: number | null }> {
  const r = await runCli([...args, '--timeout', String(TIMEOUT_S), '--ca-file', ca, '--server-version', '9.2'], { timeoutMs: 90_000 });
  return { out: `${r.stdout}\n${r.stderr}`, code: r.code };
}

/** The lines that say what timed out (for the failure message). */
const said = (out: string): string => out.split('\n').filter((l) => /time|within|stall|answer/i.test(l)).slice(0, 8).join('\n');

// The SMTP probes (test-smtp, check-config --connect) stop after login: they send no mail.
const sendsMail = (command: string): boolean => !['test-smtp', 'check-config --connect'].includes(command);
const cases = COMMANDS.flatMap((c) =>
  c.protocols.flatMap((p) => STAGES[p].filter((s) => p !== 'smtp' || sendsMail(c.name) || !['MAIL', 'DATA'].includes(s.stallAt)).map((s) => ({ command: c, protocol: p, stage: s }))),
).map((x) => {
  // The probe and the watcher read with TOP: their mid-command stall is TOP's.
  const usesTop = x.protocol === 'pop3' && ['test-mailbox', 'check-config --connect', 'send-test --wait-reply'].includes(x.command.name);
  const stage = usesTop && x.stage.stallAt === 'RETR' ? { ...x.stage, stallAt: 'TOP', name: 'mid-command (TOP)' } : x.stage;
  return { ...x, stage, title: `${x.command.name}: ${x.protocol.toUpperCase()} stalls ${stage.name}` };
});

describe.concurrent('a stalled server costs at most --timeout plus 1 s, and the error names protocol and stage', () => {
  it.each(cases)('$title', async ({ command, protocol, stage }) => {
        const stalling = await server(protocol, stage);
    // SMTP is reached by a name its certificate carries: 9.2 checks the certificate against the
    // name and an address never matches, so with 127.0.0.1 every session would end at STARTTLS
    // (and a reply watcher, which reads only what arrives after the invitation left, never reads).
    const smtp = { port: protocol === 'smtp' ? stalling.port : (await server('smtp', null)).port, host: 'localhost' };
    const mailbox = protocol === 'smtp' ? { protocol: 'imap' as const, port: (await server('imap', null)).port, implicit: true } : { protocol, port: stalling.port, implicit: stage.implicitTls };
    const r = await run(command.args(cfgFor({ smtp, mailbox })));
    expect(stalling.connections, 'the command reached the stalling server').toBeGreaterThan(0);
    expect(r.out).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
    expect(r.code).not.toBeNull(); // ended by itself, not killed by the test
    // From the moment each connection went silent to its close, summed: the wait on the stall.
    const waited = stalling.stalledMs();
    expect(waited, `waited ${waited} ms, ${stalling.connections} connection(s):\n${said(r.out)}`).toBeLessThanOrEqual(BOUND_MS);
    const proto = protocol.toUpperCase();
    if (command.probe) {
      // The staged probes (test-smtp, test-mailbox, check-config --connect, send-test's SMTP
      // stage) name the stage in their own words: "sent no IMAP greeting within 3000 ms".
      expect(r.out, said(r.out)).toMatch(new RegExp(`(${proto} [A-Za-z ]+ timed out after ${TIMEOUT_S} s|within (${TIMEOUT_S} s|${TIMEOUT_S}000 ms)|timed out after ${TIMEOUT_S}000 ms)`));
      expect(r.out).toContain(proto);
    } else {
      expect(r.out, said(r.out)).toMatch(new RegExp(`${proto} [A-Za-z ]+ timed out after ${TIMEOUT_S} s`));
    }
  }, 90_000);
});
