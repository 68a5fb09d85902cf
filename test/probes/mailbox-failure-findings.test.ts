/**
 * A receiving session that fails always ends in a finding. The failing stage alone used to be all
 * there was for some failures (a connection closed during the check of the server's own login, an
 * INBOX that could not be opened, an answer out of protocol): `test-mailbox` listed the stage,
 * but `poll --json`, its monitoring line and `diagnose` had no finding and no id to act on.
 */
import type net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReceivingSettings } from '../../src/config/settings.js';
import { failureFindings } from '../../src/probes/mailbox-probe.js';
import { mailClientsFor } from '../../src/server/mail-clients.js';
import { parseServerVersion } from '../../src/server/release.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { FAILURE_KINDS } from '../helpers/failure-kinds.js';
import { closeServer, lineServer, portOf } from '../helpers/line-server.js';

const STAGES = ['connect', 'tls', 'greeting', 'starttls', 'login', 'inbox', 'sample', 'logout', 'server-login', 'internal'];

function receiving(protocol: 'imap' | 'pop3'): ReceivingSettings {
  return {
    server: 'mail.example.test',
    port: protocol === 'imap' ? 143 : 110,
    useSSL: false,
    type: protocol === 'imap' ? 'imap' : 'pop',
    protocol,
    username: 'calendar@example.test',
    password: 'Pw-5521-secret',
  } as unknown as ReceivingSettings;
}

describe('every failure of a receiving session is a finding', () => {
  const clients = mailClientsFor(parseServerVersion('9.2'));
  // A configuration problem (no port, no server, a Type the release does not poll) is judged by
  // check-config; its stage says it here.
  const kinds = FAILURE_KINDS.filter((k) => k !== 'config');

  it.each(['imap', 'pop3'] as const)('%s: each kind at each stage gives a finding', (protocol) => {
    const missing: string[] = [];
    for (const kind of kinds) {
      for (const stage of STAGES) {
        const findings = failureFindings(receiving(protocol), { stage, kind, error: 'the server closed the connection', evidence: {} }, { tlsMode: 'starttls' }, clients);
        // A certificate the tool cannot verify stops the tool, not the server (it never checks the
        // chain): a warning that says the tool stopped. Everything else stops the server's poll too.
        const want = kind === 'certificate' ? 'warning' : 'error';
        if (!findings.some((f) => f.severity === want)) missing.push(`${kind} at ${stage}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('a failure no other finding names is mailbox.session-failed, with the stage and what the server did', () => {
    const r = receiving('imap');
    const [inbox] = failureFindings(r, { stage: 'inbox', kind: 'rejected', error: 'INBOX could not be opened read-only (EXAMINE): the server refused: NO Mailbox does not exist', evidence: {} }, { tlsMode: 'starttls' }, clients);
    expect(inbox).toMatchObject({ id: 'mailbox.session-failed', severity: 'error', path: 'Scheduling.iMIP.Receiving.Server' });
    expect(inbox!.message).toBe(
      "The IMAP session with mail.example.test:143 failed at the inbox stage: INBOX could not be opened read-only (EXAMINE): the server refused: NO Mailbox does not exist. Calendar Server's poll stops at the same point and reads nothing.",
    );
    const [check] = failureFindings(r, { stage: 'server-login', kind: 'closed', error: 'the server closed the connection', evidence: {} }, { tlsMode: 'starttls' }, clients);
    expect(check!.message).toMatch(/^Checking Calendar Server's own login steps with mail\.example\.test:143 \(a connection of its own\) failed: the server closed the connection\./);
    // After the mailbox was read, nothing is claimed about the server's poll.
    const [logout] = failureFindings(r, { stage: 'logout', kind: 'protocol', error: 'unexpected answer to LOGOUT', evidence: {} }, { tlsMode: 'starttls' }, clients);
    expect(logout!.message).not.toMatch(/reads nothing/);
  });
});

// Mail servers that fail in the middle of the exchange cannot be had from Dovecot on demand: these
// listeners greet and answer CAPABILITY as an IMAP server with STARTTLS and LOGINDISABLED does
// (RFC 3501 sections 6.1.1 and 7.2.1), or list STLS as a POP3 server does (RFC 2595 section 4),
// and then fail the upgrade: by closing the connection (an overloaded server, a middlebox that
// resets it), or by answering it with an error (a server whose TLS certificate cannot be loaded).
type Failure = 'close' | 'refuse';

/** `delayMs`: each answer is sent that long after the command (a slow server that does answer). */
function brokenServer(protocol: 'imap' | 'pop3', failure: Failure, delayMs = 0): Promise<net.Server> {
  return lineServer({
    greeting: protocol === 'imap' ? '* OK IMAP4rev1 ready\r\n' : '+OK POP3 ready\r\n',
    delayMs,
    answer: (line) => {
      const [first, second] = line.split(' ');
      if (protocol === 'imap') {
        if (/^CAPABILITY$/i.test(second ?? '')) return `* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n${first} OK CAPABILITY completed\r\n`;
        if (failure === 'refuse' && /^STARTTLS$/i.test(second ?? '')) return `${first} NO [UNAVAILABLE] TLS is not available\r\n`;
        return null;
      }
      if (/^CAPA$/i.test(first ?? '')) return '+OK\r\nUSER\r\nSTLS\r\n.\r\n';
      if (failure === 'refuse' && /^STLS$/i.test(first ?? '')) return '-ERR TLS is not available\r\n';
      return null;
    },
  });
}

const PASSWORD = 'Pw-7731-secret';

function configFor(protocol: 'imap' | 'pop3', port: number): string {
  return writePlist(tempDir(), 'caldavd.plist', {
    ServerHostName: 'cal.example.test',
    Scheduling: {
      iMIP: {
        Enabled: true,
        Receiving: { Server: '127.0.0.1', Port: port, UseSSL: false, Type: protocol === 'imap' ? 'imap' : 'pop', Username: 'calendar@example.test', Password: PASSWORD },
      },
    },
  });
}

const mailboxIds = (doc: { findings: Array<{ id: string }> }): string[] => doc.findings.map((f) => f.id).filter((id) => id.startsWith('mailbox.'));

describe('a mail server that fails the upgrade to TLS', () => {
  const servers: net.Server[] = [];
  afterAll(() => Promise.all(servers.map(closeServer)));
  const common = (config: string): string[] => ['--config', config, '--server-version', '9.2', '--timeout', '10', '--json'];

  it('IMAP, the connection closed at STARTTLS: poll, diagnose and test-mailbox each name it in a finding, and exit 1', async () => {
    const server = await brokenServer('imap', 'close');
    servers.push(server);
    const port = portOf(server);
    const config = configFor('imap', port);
    const [poll, diag, probe] = await Promise.all([
      runCli(['poll', '--once', ...common(config), '--state-dir', tempDir()]),
      runCli(['diagnose', ...common(config), '--state-dir', tempDir()]),
      runCli(['test-mailbox', ...common(config)]),
    ]);

    // The poll checks the server's own login first, on a connection of its own: that is where it stops.
    const pollDoc = jsonOf(poll, 'poll');
    expect(mailboxIds(pollDoc)).toEqual(['mailbox.session-failed']);
    expect(pollDoc.error).toMatch(/could not be opened \(mailbox\.session-failed\)/);
    expect(pollDoc.messages).toEqual([]);
    expect(poll.code).toBe(1);
    expect(mailboxIds(jsonOf(diag, 'diagnose'))).toEqual(['mailbox.session-failed']);
    expect(diag.code).toBe(1);

    // test-mailbox's own session stops at its STARTTLS: imapflow's "Unexpected close" is a closed connection.
    const probeDoc = jsonOf(probe, 'test-mailbox');
    expect(mailboxIds(probeDoc)).toEqual(['mailbox.connect-failed']);
    expect(probeDoc.findings[0].message).toBe(`The IMAP session with 127.0.0.1:${port} failed at the starttls stage: the server closed the connection.`);
    expect(probe.code).toBe(1);

    for (const r of [poll, diag, probe]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  // No TLS version was offered, so the verdict is not "refuses TLS 1.0", which would send the admin
  // after TLS versions; the server's login stops at the refusal all the same.
  it.each([
    ['imap', 'STARTTLS', 'NO [UNAVAILABLE] TLS is not available'],
    ['pop3', 'STLS', '-ERR TLS is not available'],
  ] as const)('%s, the upgrade answered with an error: the refusal, not a TLS 1.0 refusal', async (protocol, command, reply) => {
    const server = await brokenServer(protocol, 'refuse');
    servers.push(server);
    const port = portOf(server);
    const config = configFor(protocol, port);
    const [poll, diag, probe, check] = await Promise.all([
      runCli(['poll', '--once', ...common(config), '--state-dir', tempDir()]),
      runCli(['diagnose', ...common(config), '--state-dir', tempDir()]),
      runCli(['test-mailbox', ...common(config)]),
      runCli(['check-config', '--connect', ...common(config)]),
    ]);
    expect(mailboxIds(jsonOf(check, 'check-config --connect'))).toEqual(['mailbox.session-failed']);
    expect(check.code).toBe(1);
    const doc = jsonOf(poll, 'poll');
    expect(mailboxIds(doc)).toEqual(['mailbox.session-failed']);
    const finding = doc.findings.find((f: { id: string }) => f.id === 'mailbox.session-failed');
    expect(finding.message).toContain(`the mail server lists ${command} but answered it with "${reply}"`);
    expect(finding.fix).toMatch(/certificate and key/);
    expect(doc.serverLogin.stopped).toBe('mailbox-not-opened');
    expect(poll.code).toBe(1);
    expect(mailboxIds(jsonOf(diag, 'diagnose'))).toEqual(['mailbox.session-failed']);
    expect(diag.code).toBe(1);
    // test-mailbox's own session meets the refusal first, at its own upgrade: the same id, at that stage.
    const probeDoc = jsonOf(probe, 'test-mailbox');
    expect(mailboxIds(probeDoc), JSON.stringify(probeDoc.findings)).toEqual(['mailbox.session-failed']);
    expect(probeDoc.findings[0].evidence.stage).toBe('starttls');
    expect(probe.code).toBe(1);
  });

  // --timeout bounds each step, as the README says: the check of the server's own login takes
  // three answers here (greeting, CAPABILITY, STARTTLS), each 0.7 s apart, 2.1 s in all, within a
  // 1-second limit per answer. Before, the limit bounded the whole check: mailbox.timeout.
  it('IMAP, a slow server that answers every step within --timeout: the verdict, not a time-out', async () => {
    const server = await brokenServer('imap', 'refuse', 700);
    servers.push(server);
    const port = portOf(server);
    const poll = await runCli(['poll', '--once', '--config', configFor('imap', port), '--server-version', '9.2', '--timeout', '1', '--json', '--state-dir', tempDir()]);
    const doc = jsonOf(poll, 'poll');
    expect(mailboxIds(doc), JSON.stringify(doc.findings)).toEqual(['mailbox.session-failed']);
    expect(doc.findings[0].message).toContain('answered it with "NO [UNAVAILABLE] TLS is not available"');
  });
});

// The same for POP3: a server that greets with an APOP challenge (RFC 1939 section 7) and answers
// every command 0.7 s later, with a 1-second limit. RSET then QUIT (the read-only end) are two
// answers in one stage, 1.4 s in all.
describe('a slow POP3 server that answers every step within --timeout', () => {
  it('test-mailbox reads it to the end; no time-out', async () => {
    const POP3: Record<string, string> = {
      CAPA: '+OK\r\nTOP\r\nUIDL\r\n.\r\n',
      APOP: '+OK maildrop has 0 messages\r\n',
      STAT: '+OK 0 0\r\n',
      UIDL: '+OK\r\n.\r\n',
      RSET: '+OK\r\n',
      QUIT: '+OK bye\r\n',
    };
    const server = await lineServer({
      greeting: '+OK POP3 ready <1896.697170952@pop.example.test>\r\n',
      delayMs: 700,
      answer: (line) => POP3[line.split(' ')[0]!.toUpperCase()] ?? '-ERR unknown command\r\n',
    });
    try {
      const port = portOf(server);
      const r = await runCli(['test-mailbox', '--config', configFor('pop3', port), '--server-version', '4.3', '--timeout', '1', '--json']);
      const doc = jsonOf(r, 'test-mailbox');
      expect(mailboxIds(doc), JSON.stringify(doc.stages)).not.toContain('mailbox.timeout');
      const quit = doc.stages.find((st: { stage: string }) => st.stage === 'quit');
      expect(quit, JSON.stringify(doc.stages)).toMatchObject({ ok: true });
      expect(quit.ms).toBeGreaterThan(1000);
    } finally {
      await closeServer(server);
    }
  });
});

// And IMAP: a server that answers every command 0.7 s later (RFC 3501: greeting without
// capabilities, LOGIN, EXAMINE), with a 1-second limit. The greeting stage waits for the greeting
// and the CAPABILITY answer, 1.4 s in all.
describe('a slow IMAP server that answers every step within --timeout', () => {
  it('test-mailbox reads it to the end; no time-out', async () => {
    const server = await lineServer({
      greeting: '* OK IMAP4rev1 ready\r\n',
      delayMs: 700,
      answer: (line) => {
        const [tag, command] = line.split(' ');
        const verb = (command ?? '').toUpperCase();
        if (verb === 'CAPABILITY') return `* CAPABILITY IMAP4rev1\r\n${tag} OK CAPABILITY completed\r\n`;
        if (verb === 'EXAMINE') return `* 0 EXISTS\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 1] Predicted next UID\r\n${tag} OK [READ-ONLY] EXAMINE completed\r\n`;
        if (verb === 'LOGOUT') return `* BYE Logging out\r\n${tag} OK LOGOUT completed\r\n`;
        return `${tag} OK ${verb} completed\r\n`;
      },
    });
    try {
      const port = portOf(server);
      const r = await runCli(['test-mailbox', '--config', configFor('imap', port), '--server-version', '9.2', '--timeout', '1', '--json']);
      const doc = jsonOf(r, 'test-mailbox');
      expect(mailboxIds(doc), JSON.stringify(doc.stages)).not.toContain('mailbox.timeout');
      const greeting = doc.stages.find((st: { stage: string }) => st.stage === 'greeting');
      expect(greeting, JSON.stringify(doc.stages)).toMatchObject({ ok: true });
      expect(greeting.ms).toBeGreaterThan(1000);
      expect(doc.stages.find((st: { stage: string }) => st.stage === 'inbox')).toMatchObject({ ok: true });
    } finally {
      await closeServer(server);
    }
  });
});
