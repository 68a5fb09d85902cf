/**
 * The server's answer on the receiving side, release by release: UseSSL × what the mail server
 * offers × release line (2.5, 4.3, 9.2). `test-mailbox`, `check-config --connect`, `poll --once`
 * and `diagnose` must reach the same verdict on the connection (the ids of the connection
 * findings, and whether Calendar Server's own IMAP/POP3 client can log in at all), and it must be
 * the one Twisted's client would get with the release's TLS context (src/server/mail-clients.ts):
 * STARTTLS/STLS started by Twisted itself offers TLS 1.0 only (imap4.py / pop3client.py
 * `_getContextFactory`, TLSv1_METHOD); IMAP authenticates before TLS with the first mechanism of
 * the server's own list (imap4.py `IMAP4Client.__cbAuthenticate`); 9.x checks the host name
 * (twext `simpleClientContextFactory`), which an IP address never matches.
 *
 * The mail servers are the real stack's Dovecot listeners: on 127.0.0.1 Dovecot treats the
 * connection as secured (AUTH=PLAIN offered before TLS), the legacy host says LOGINDISABLED and
 * accepts TLS 1.0, the modern remote host says LOGINDISABLED and refuses TLS 1.0, and the no-TLS
 * host offers no STARTTLS and says LOGINDISABLED: Twisted's `__cbLoginCaps` sends LOGIN anyway
 * (in clear text) and Dovecot refuses it; 4.1, 4.1.1 and 5.0 never send it (their IMAPLogger
 * raises on the notice before it).
 */
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { getStack } from '../helpers/stack.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { writeStackConfig } from '../helpers/stack-config.js';

type Listener = 'imaps' | 'imap-local' | 'imap-legacy' | 'imap-modern' | 'imap-notls' | 'pop3s' | 'pop3-legacy' | 'pop3-modern' | 'imaps-ip';
type Release = '2.5' | '4.3' | '9.2';

interface Row {
  name: string;
  listener: Listener;
  /** Without the stack's CA: the certificate does not verify for the tool. */
  noCa?: boolean;
  /** Per release: the connection ids (severity:id, sorted) and whether the server's client can log in. */
  expect: Record<Release, { ids: string[]; serverReads: boolean }>;
}

const same = (ids: string[], serverReads: boolean): Row['expect'] => ({ '2.5': { ids, serverReads }, '4.3': { ids, serverReads }, '9.2': { ids, serverReads } });

const ROWS: Row[] = [
  { name: 'IMAP, UseSSL true on IMAPS', listener: 'imaps', expect: same([], true) },
  {
    name: 'IMAP, UseSSL false, AUTH=PLAIN offered before TLS: the server authenticates in clear text',
    listener: 'imap-local',
    expect: same(['warning:mailbox.cleartext-password'], true),
  },
  { name: 'IMAP, UseSSL false, LOGINDISABLED, TLS 1.0 accepted: STARTTLS with TLS 1.0, then the login', listener: 'imap-legacy', expect: same([], true) },
  {
    name: 'IMAP, UseSSL false, LOGINDISABLED, TLS 1.0 refused: the server\'s STARTTLS fails',
    listener: 'imap-modern',
    expect: same(['error:mailbox.tls10-refused'], false),
  },
  {
    name: 'IMAP, UseSSL false, no STARTTLS and LOGINDISABLED: the server sends LOGIN in clear text and is refused',
    listener: 'imap-notls',
    expect: same(['error:mailbox.imap-login-disabled'], false),
  },
  { name: 'POP3, UseSSL true on POP3S', listener: 'pop3s', expect: same([], true) },
  { name: 'POP3, UseSSL false, STLS with TLS 1.0 accepted', listener: 'pop3-legacy', expect: same([], true) },
  { name: 'POP3, UseSSL false, STLS with TLS 1.0 refused', listener: 'pop3-modern', expect: same(['error:mailbox.tls10-refused'], false) },
  {
    name: 'a certificate that does not verify: the server reads anyway (a warning); the tool stops before the password',
    listener: 'imaps',
    noCa: true,
    expect: same(['warning:mailbox.certificate-untrusted'], true),
  },
  {
    name: 'Server given as an IP address: fine before 9.x, the 9.x host-name check never matches it',
    listener: 'imaps-ip',
    expect: {
      '2.5': { ids: ['warning:mailbox.certificate-name-mismatch'], serverReads: true },
      '4.3': { ids: ['warning:mailbox.certificate-name-mismatch'], serverReads: true },
      '9.2': { ids: ['error:mailbox.certificate-name-mismatch'], serverReads: false },
    },
  },
];

/** The findings about the connection itself (not about the mailbox's content). */
const CONNECTION_IDS = new Set([
  'mailbox.certificate-untrusted',
  'mailbox.certificate-name-mismatch',
  'mailbox.tls10-refused',
  'mailbox.cleartext-password',
  'mailbox.pop-cleartext-login',
  'mailbox.login-failed',
  'mailbox.tls-mismatch',
  'mailbox.imap-login-disabled',
  'mailbox.imap-login-never-sent',
]);

/** Every finding id and every failed stage, for the message of an assertion that fails. */
function why(doc: { findings?: Array<{ id: string; message: string }>; stages?: Array<{ stage: string; ok: boolean; error?: string | null }> }): string {
  const failed = (doc.stages ?? []).filter((s) => !s.ok && s.error).map((s) => `${s.stage}: ${s.error}`);
  return JSON.stringify({ findings: (doc.findings ?? []).map((f) => `${f.id}: ${f.message}`), failedStages: failed });
}

function ids(list: unknown): string[] {
  return ((list as { id: string; severity: string }[]) ?? [])
    .filter((f) => CONNECTION_IDS.has(f.id))
    .map((f) => `${f.severity}:${f.id}`)
    .sort();
}

function config(row: Row): string {
  const s = getStack();
  const v = s.clientVariants;
  const at: Record<Listener, { host: string; port: number; useSSL: boolean; type: 'imap' | 'pop' }> = {
    imaps: { host: s.host, port: s.ports.imaps, useSSL: true, type: 'imap' },
    'imaps-ip': { host: '127.0.0.1', port: s.ports.imaps, useSSL: true, type: 'imap' },
    'imap-local': { host: '127.0.0.1', port: s.ports.imap, useSSL: false, type: 'imap' },
    'imap-legacy': { host: v.legacyHost, port: s.ports.imap, useSSL: false, type: 'imap' },
    'imap-modern': { host: v.modernRemoteHost, port: s.ports.imap, useSSL: false, type: 'imap' },
    'imap-notls': { host: v.noTlsHost, port: s.ports.imap, useSSL: false, type: 'imap' },
    pop3s: { host: s.host, port: s.ports.pop3s, useSSL: true, type: 'pop' },
    'pop3-legacy': { host: v.legacyHost, port: s.ports.pop3, useSSL: false, type: 'pop' },
    'pop3-modern': { host: v.modernRemoteHost, port: s.ports.pop3, useSSL: false, type: 'pop' },
  };
  const r = at[row.listener];
  return writeStackConfig({ receiving: { Server: r.host, Port: r.port, UseSSL: r.useSSL, Type: r.type } });
}

describe.concurrent("the same receiving verdict from test-mailbox, check-config --connect, poll and diagnose, and it is the server's", () => {
  for (const row of ROWS) {
    for (const version of ['2.5', '4.3', '9.2'] as const) {
      it(`${row.name} — ${version}`, async () => {
        const path = config(row);
        const want = row.expect[version];
        // The verdicts here do not depend on time; four commands run at once in each of several
        // tests, so a stage may wait on a busy machine (a 5-second limit once ran out in CI).
        const common = ['--config', path, ...(row.noCa ? [] : ['--ca-file', getStack().ca]), '--server-version', version, '--timeout', '15', '--json'];
        const state = tempDir();

        const [probe, check, poll, diag] = await Promise.all([
          runCli(['test-mailbox', ...common]),
          runCli(['check-config', '--connect', ...common]),
          runCli(['poll', '--once', ...common, '--state-dir', state]),
          runCli(['diagnose', ...common, '--state-dir', state]),
        ]);

        const probeDoc = jsonOf(probe, 'test-mailbox');
        expect(ids(probeDoc.findings), `test-mailbox: ${why(probeDoc)}`).toEqual(want.ids);
        // A mail server the server's client cannot log in to, or a stop before the password, is a problem (1).
        if (!want.serverReads || row.noCa) expect(probe.code).toBe(1);
        const checkDoc = jsonOf(check, 'check-config --connect');
        expect(ids(checkDoc.findings), `check-config --connect: ${why(checkDoc)}`).toEqual(want.ids);
        if (!want.serverReads) expect(check.code).toBe(1);

        const pollDoc = jsonOf(poll, 'poll');
        expect(ids(pollDoc.findings), `poll: ${why(pollDoc)} ${poll.stderr}`).toEqual(want.ids);
        const stopped = want.serverReads ? (row.noCa ? 'certificate-not-verified' : null) : 'server-cannot-log-in';
        expect(pollDoc.serverLogin.stopped).toBe(stopped);
        if (stopped) {
          expect(poll.code).toBe(1);
          expect(pollDoc.messages).toEqual([]);
        } else {
          expect(pollDoc.mailbox.server).toBeTruthy();
          expect(pollDoc.error).toBeUndefined();
        }

        const diagDoc = jsonOf(diag, 'diagnose');
        expect(ids(diagDoc.findings), `diagnose: ${why(diagDoc)}`).toEqual(want.ids);
        if (!want.serverReads) expect(diag.code).toBe(1);
      });
    }
  }

  // CalendarServer-5.0 inbound.py: POP3DownloadFactory.__init__ keeps no settings, and
  // POP3DownloadProtocol.serverGreeting reads self.factory.settings["Username"] (5.1 keeps them).
  it('5.0 over POP3: every command says the server never logs in, whatever the mailbox; 5.1 reads it', async () => {
    const path = config({ name: '', listener: 'pop3s', expect: same([], true) });
    const run = (version: string, command: string[]) => runCli([...command, '--config', path, '--ca-file', getStack().ca, '--server-version', version, '--timeout', '15', '--json']);
    const commands = [['test-mailbox'], ['check-config', '--connect'], ['poll', '--once', '--state-dir', tempDir()], ['diagnose', '--state-dir', tempDir()]];
    const on50 = await Promise.all(commands.map((c) => run('5.0', c)));
    on50.forEach((r, i) => {
      const doc = jsonOf(r, commands[i]!.join(' '));
      const said = (doc.findings as Array<{ id: string; severity: string; message: string }>).filter((x) => x.id === 'receiving.pop-never-logs-in');
      expect(said.length, `said once by ${commands[i]!.join(' ')}`).toBe(1);
      const f = said[0];
      expect(f?.severity, `${commands[i]!.join(' ')}: ${why(doc)}`).toBe('error');
      expect(f!.message).toMatch(/'POP3DownloadFactory' object has no attribute 'settings'/);
      expect(r.code, commands[i]!.join(' ')).toBe(1);
    });
    // On a clear port whose STLS refuses TLS 1.0, nothing about how 5.0 would go on (its STLS,
    // what it deletes) contradicts that: it never gets past the greeting.
    const clear = config({ name: '', listener: 'pop3-modern', expect: same([], true) });
    const modern = await runCli(['check-config', '--connect', '--config', clear, '--ca-file', getStack().ca, '--server-version', '5.0', '--timeout', '15', '--json']);
    const modernIds = (jsonOf(modern).findings as Array<{ id: string }>).map((x) => x.id);
    expect(modernIds).toContain('receiving.pop-never-logs-in');
    expect(modernIds.filter((id) => ['mailbox.tls10-refused', 'mailbox.not-dedicated', 'receiving.deletes-all-mail'].includes(id))).toEqual([]);
    const pollDoc = jsonOf(on50[2]!, 'poll');
    expect(pollDoc.serverLogin.stopped).toBe('server-cannot-log-in');
    expect(pollDoc.messages).toEqual([]);
    const on51 = await Promise.all(commands.map((c) => run('5.1', c)));
    on51.forEach((r, i) => {
      const doc = jsonOf(r, commands[i]!.join(' '));
      expect((doc.findings as Array<{ id: string }>).map((x) => x.id), commands[i]!.join(' ')).not.toContain('receiving.pop-never-logs-in');
    });
  });

  it('4.1 and 5.0 never send that LOGIN at all: every command says so, as the server logs "IMAP login failed"', async () => {
    const path = config({ name: '', listener: 'imap-notls', expect: same([], false) });
    for (const version of ['4.1', '5.0']) {
      const common = ['--config', path, '--ca-file', getStack().ca, '--server-version', version, '--timeout', '15', '--json'];
      const runs = await Promise.all([runCli(['test-mailbox', ...common]), runCli(['poll', '--once', ...common, '--state-dir', tempDir()])]);
      for (const r of runs) {
        const doc = jsonOf(r);
        expect(ids(doc.findings), `${version}: ${why(doc)}`).toEqual(['error:mailbox.imap-login-never-sent']);
        expect(r.code).toBe(1);
      }
      expect(jsonOf(runs[1]!).serverLogin.stopped).toBe('server-cannot-log-in');
      // The stage that checked the server's own login shows it failed (not ✓ beside the error).
      const stage = (jsonOf(runs[0]!).stages as Array<{ stage: string; ok: boolean; error?: string }>).find((st) => st.stage === 'server-login');
      expect(stage, version).toMatchObject({ ok: false, error: 'Calendar Server never sends its LOGIN here' });
    }
  });

  it("the poll's own session offers TLS 1.0 where the server's STARTTLS/STLS does, and current TLS elsewhere", async () => {
    const run = async (listener: Listener): Promise<string | undefined> => {
      const r = await runCli(['poll', '--once', '--config', config({ name: '', listener, expect: same([], true) }), '--ca-file', getStack().ca, '--server-version', '4.3', '--json', '--state-dir', tempDir()]);
      return jsonOf(r).mailbox?.tlsVersion;
    };
    const [legacyImap, legacyPop, localImap, imaps] = await Promise.all([run('imap-legacy'), run('pop3-legacy'), run('imap-local'), run('imaps')]);
    expect(legacyImap).toBe('TLSv1');
    expect(legacyPop).toBe('TLSv1');
    // Before TLS the server authenticates in clear text; the tool does not, and upgrades with current TLS.
    expect(localImap).toMatch(/^TLSv1\.[23]$/);
    expect(imaps).toMatch(/^TLSv1\.[23]$/);
  });
});

/** A port on 127.0.0.1 where nothing listens: bound by the system, then closed. */
async function closedPort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

const WRONG = 'Wrong-pw-5521-secret';

// A mailbox that cannot be opened is a problem found, not a command that could not run: `poll`
// says so with the finding `test-mailbox` gives, exit 1, a JSON document, and CRITICAL for
// monitoring (before, it was exit 2 with one line on stderr and "UNKNOWN").
describe.concurrent('a mailbox that cannot be opened: poll and diagnose give the finding test-mailbox gives, and exit 1', () => {
  const CASES: Array<{ name: string; id: string; receiving: () => Promise<Record<string, unknown>> }> = [
    { name: 'IMAP, a wrong password', id: 'mailbox.login-failed', receiving: async () => ({ Password: WRONG }) },
    { name: 'POP3, a wrong password', id: 'mailbox.login-failed', receiving: async () => ({ Port: getStack().ports.pop3s, Type: 'pop', Password: WRONG }) },
    { name: 'IMAP, nothing listens on the port', id: 'mailbox.connect-failed', receiving: async () => ({ Server: '127.0.0.1', Port: await closedPort() }) },
    { name: 'POP3, nothing listens on the port', id: 'mailbox.connect-failed', receiving: async () => ({ Server: '127.0.0.1', Port: await closedPort(), Type: 'pop' }) },
  ];
  for (const c of CASES) {
    for (const version of ['4.3', '9.2'] as const) {
      it(`${c.name} — ${version}`, async () => {
        const path = writeStackConfig({ receiving: await c.receiving() });
        // Five commands at once in each of several tests: room for a busy machine (the verdicts do not depend on time).
        const common = ['--config', path, '--ca-file', getStack().ca, '--server-version', version, '--timeout', '15'];
        const [probe, poll, human, nagios, diag] = await Promise.all([
          runCli(['test-mailbox', ...common, '--json']),
          runCli(['poll', '--once', ...common, '--json', '--state-dir', tempDir()]),
          runCli(['poll', '--once', ...common, '--no-color', '--state-dir', tempDir()]),
          runCli(['poll', '--once', ...common, '--format', 'nagios', '--state-dir', tempDir()]),
          runCli(['diagnose', ...common, '--json', '--state-dir', tempDir()]),
        ]);
        const errorsOf = (doc: { findings: Array<{ id: string; severity: string }> }): string[] => doc.findings.filter((f) => f.severity === 'error').map((f) => f.id);
        expect(errorsOf(jsonOf(probe, 'test-mailbox'))).toEqual([c.id]);
        expect(probe.code).toBe(1);

        const doc = jsonOf(poll, 'poll');
        expect(poll.code, poll.stderr).toBe(1);
        expect(poll.stderr).toBe('');
        expect(errorsOf(doc)).toEqual([c.id]);
        expect(doc.serverLogin.stopped).toBe('mailbox-not-opened');
        expect(doc.messages).toEqual([]);
        expect(doc.error).toContain(`the mailbox could not be opened (${c.id})`);

        expect(human.code).toBe(1);
        expect(human.stdout).toContain(c.id);
        expect(human.stdout).toMatch(/No message was read: the mailbox could not be opened/);
        expect(nagios.stdout).toMatch(new RegExp(`^IMIP CRITICAL - poll: ${c.id.replace('.', '\\.')}`));
        expect(nagios.code).toBe(2);
        // diagnose names the same cause for the receiving side (not only "could not be examined").
        const receiving = jsonOf(diag, 'diagnose').findings.filter((f: { id: string }) => f.id.startsWith('mailbox.') || f.id === 'diagnose.input-unreadable');
        expect(receiving.map((f: { id: string }) => f.id)).toEqual([c.id]);
        expect(diag.code).toBe(1);
        for (const r of [probe, poll, human, nagios, diag]) expect(r.stdout + r.stderr).not.toContain(WRONG);
      });
    }
  }

  it('--apply (4.3) with a wrong password: the same finding, exit 1, nothing changed', async () => {
    const path = writeStackConfig({ receiving: { Password: WRONG } });
    const r = await runCli(['poll', '--once', '--apply', '--inject-url', 'http://127.0.0.1:9/inbox/', '--config', path, '--ca-file', getStack().ca, '--server-version', '4.3', '--json', '--state-dir', tempDir()]);
    const doc = jsonOf(r, 'poll --apply');
    expect(r.code, r.stderr).toBe(1);
    expect(doc.findings.map((f: { id: string }) => f.id)).toContain('mailbox.login-failed');
    expect(doc.serverLogin.stopped).toBe('mailbox-not-opened');
    expect(r.stdout + r.stderr).not.toContain(WRONG);
  });
});
