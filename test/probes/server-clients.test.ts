/**
 * The server's answer, release by release: UseSSL × what the relay offers × release line
 * (2.5, 4.3, 9.2). `test-smtp`, `check-config --connect` and `send-test` must reach the same
 * verdict (the ids of the `smtp.*` findings and the exit code), and it must be the one Calendar
 * Server's own sender (Twisted ESMTPSender with the release's TLS context) would get.
 * Relays are the real stack's Postfix listeners, including its client-behaviour variants.
 */
import { describe, expect, it } from 'vitest';
import { getStack } from '../helpers/stack.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { writeStackConfig } from '../helpers/stack-config.js';

type Relay = 'submission' | 'tls10' | 'cram-hashed' | 'other-name' | 'smtps';
interface Row {
  name: string;
  useSSL: boolean;
  relay: Relay;
  /** Extra flags (besides the stack CA). */
  flags?: string[];
  /** Sending.Password empty: the server's client never sends AUTH. */
  noPassword?: boolean;
  /** Per release: exit code and the smtp.* ids (sorted) with their severity. */
  expect: Record<'2.5' | '4.3' | '9.2', { code: 0 | 1 | 2; ids: string[] }>;
}

const same = (code: 0 | 1 | 2, ids: string[]): Row['expect'] => ({ '2.5': { code, ids }, '4.3': { code, ids }, '9.2': { code, ids } });

const ROWS: Row[] = [
  { name: 'UseSSL true, relay with STARTTLS and today\'s TLS minimum', useSSL: true, relay: 'submission', expect: same(0, []) },
  {
    name: 'UseSSL false, relay offers STARTTLS and refuses TLS 1.0: the server starts TLS 1.0 anyway',
    useSSL: false,
    relay: 'submission',
    expect: same(1, ['error:smtp.tls10-refused']),
  },
  { name: 'UseSSL false, relay accepts TLS 1.0', useSSL: false, relay: 'tls10', expect: same(0, []) },
  {
    name: 'CRAM-MD5 offered for a hashed password: first mechanism refused, no fallback',
    useSSL: true,
    relay: 'cram-hashed',
    expect: same(1, ['error:smtp.auth-mechanism-rejected']),
  },
  {
    name: 'a certificate naming another host (--insecure to see the login): fine before 9.x, broken on 9.x',
    useSSL: true,
    relay: 'other-name',
    flags: ['--insecure'],
    expect: {
      '2.5': { code: 0, ids: ['warning:smtp.certificate-name-mismatch'] },
      '4.3': { code: 0, ids: ['warning:smtp.certificate-name-mismatch'] },
      '9.2': { code: 1, ids: ['error:smtp.certificate-name-mismatch'] },
    },
  },
  { name: 'UseSSL true on the SMTPS port: the server never speaks TLS first', useSSL: true, relay: 'smtps', expect: same(1, ['error:smtp.implicit-tls-port']) },
  {
    name: 'Password empty: no AUTH, the mail goes out unauthenticated and the relay refuses it at RCPT',
    useSSL: true,
    relay: 'submission',
    noPassword: true,
    expect: same(1, ['error:smtp.auth-skipped']),
  },
];

function config(row: Row): string {
  const s = getStack();
  const v = s.clientVariants;
  const user = row.relay === 'cram-hashed' ? v.hashedUser : s.users.find((u) => u.local === 'calendar')!;
  const port = { submission: s.ports.smtp, tls10: v.smtpTls10, 'cram-hashed': v.smtpCram, 'other-name': v.smtpOtherName, smtps: s.ports.smtps }[row.relay];
  return writeStackConfig({ sending: { Port: port, UseSSL: row.useSSL, Username: user.address, Password: row.noPassword ? '' : user.password } });
}

function smtpIds(doc: { findings: { id: string; severity: string }[] }): string[] {
  return doc.findings.filter((f) => f.id.startsWith('smtp.')).map((f) => `${f.severity}:${f.id}`).sort();
}

describe('the same verdict from test-smtp, check-config --connect and send-test, and it is the server\'s', () => {
  for (const row of ROWS) {
    for (const version of ['2.5', '4.3', '9.2'] as const) {
      it(`${row.name} — ${version}`, async () => {
        const path = config(row);
        const ca = row.relay === 'other-name' ? getStack().clientVariants.otherCa : getStack().ca;
        const common = ['--config', path, '--ca-file', ca, '--server-version', version, '--timeout', '5', '--json', ...(row.flags ?? [])];
        const want = row.expect[version];

        const smtp = await runCli(['test-smtp', ...common]);
        expect({ code: smtp.code, ids: smtpIds(jsonOf(smtp)) }).toEqual(want);

        const check = await runCli(['check-config', '--connect', ...common]);
        const checkDoc = jsonOf(check);
        expect(smtpIds(checkDoc)).toEqual(want.ids);
        // check-config also judges the config and the mailbox; its exit code is 1 whenever the SMTP verdict is.
        if (want.code === 1) expect(check.code).toBe(1);

        const state = tempDir();
        const send = await runCli(['send-test', ...common, '--to', 'alice@example.test', '--state-dir', state]);
        const sendDoc = jsonOf(send);
        expect({ code: send.code, ids: smtpIds(sendDoc) }).toEqual(want);
      });
    }
  }
});

describe('a login over the TLS 1.0 that the server offers with UseSSL false', () => {
  it('test-smtp and send-test start TLS 1.0, log in and send, as Twisted\'s ESMTPSender would', async () => {
    const row: Row = { name: '', useSSL: false, relay: 'tls10', expect: same(0, []) };
    const path = config(row);
    const common = ['--config', path, '--ca-file', getStack().ca, '--server-version', '4.3', '--timeout', '5', '--json'];
    const smtp = await runCli(['test-smtp', ...common]);
    const doc = jsonOf(smtp) as { stages: { stage: string; ok: boolean; evidence: Record<string, unknown> }[] };
    const stage = (name: string) => doc.stages.find((s) => s.stage === name)!;
    expect(JSON.stringify(stage('starttls').evidence)).toMatch(/"TLSv1"/);
    expect(stage('auth')).toMatchObject({ ok: true, evidence: { overTls: true } });
    expect(String(stage('auth').evidence.reply)).toMatch(/^235 /);

    const send = await runCli(['send-test', ...common, '--to', 'alice@example.test', '--state-dir', tempDir()]);
    expect(send.code).toBe(0);
    expect(jsonOf(send).sent).toMatchObject({ encrypted: true, authenticated: true });
  });
});
