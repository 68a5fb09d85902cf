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
 * accepts TLS 1.0, the modern remote host says LOGINDISABLED and refuses TLS 1.0.
 */
import { describe, expect, it } from 'vitest';
import { getStack } from '../helpers/stack.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { writeStackConfig } from '../helpers/stack-config.js';

type Listener = 'imaps' | 'imap-local' | 'imap-legacy' | 'imap-modern' | 'pop3s' | 'pop3-legacy' | 'pop3-modern' | 'imaps-ip';
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
]);

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
        const common = ['--config', path, ...(row.noCa ? [] : ['--ca-file', getStack().ca]), '--server-version', version, '--timeout', '5', '--json'];
        const state = tempDir();

        const [probe, check, poll, diag] = await Promise.all([
          runCli(['test-mailbox', ...common]),
          runCli(['check-config', '--connect', ...common]),
          runCli(['poll', '--once', ...common, '--state-dir', state]),
          runCli(['diagnose', ...common, '--state-dir', state]),
        ]);

        const probeDoc = jsonOf(probe, 'test-mailbox');
        expect(ids(probeDoc.findings), 'test-mailbox').toEqual(want.ids);
        // A mail server the server's client cannot log in to, or a stop before the password, is a problem (1).
        if (!want.serverReads || row.noCa) expect(probe.code).toBe(1);
        expect(ids(jsonOf(check, 'check-config --connect').findings), 'check-config --connect').toEqual(want.ids);
        if (!want.serverReads) expect(check.code).toBe(1);

        const pollDoc = jsonOf(poll, 'poll');
        expect(ids(pollDoc.findings), `poll: ${poll.stderr}`).toEqual(want.ids);
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
        expect(ids(diagDoc.findings), 'diagnose').toEqual(want.ids);
        if (!want.serverReads) expect(diag.code).toBe(1);
      });
    }
  }

  it("the poll's own session offers TLS 1.0 where the server's STARTTLS/STLS does, and current TLS elsewhere", async () => {
    const run = async (listener: Listener): Promise<string | undefined> => {
      const r = await runCli(['poll', '--once', '--config', config({ name: '', listener, expect: same([], true) }), '--ca-file', getStack().ca, '--server-version', '4.3', '--json', '--state-dir', tempDir()]);
      return JSON.parse(r.stdout).mailbox?.tlsVersion;
    };
    const [legacyImap, legacyPop, localImap, imaps] = await Promise.all([run('imap-legacy'), run('pop3-legacy'), run('imap-local'), run('imaps')]);
    expect(legacyImap).toBe('TLSv1');
    expect(legacyPop).toBe('TLSv1');
    // Before TLS the server authenticates in clear text; the tool does not, and upgrades with current TLS.
    expect(localImap).toMatch(/^TLSv1\.[23]$/);
    expect(imaps).toMatch(/^TLSv1\.[23]$/);
  });
});
