/**
 * `imip send-test` run as an admin runs it (a child process), against the real Postfix + Dovecot
 * of the test stack: the invitation goes through Postfix's submission port (STARTTLS + AUTH) to
 * alice@example.test, is fetched back over IMAP and taken apart (MIME, headers, iCalendar with
 * ical.js); replies shaped as Thunderbird, Outlook and Gmail send them are injected over the MX
 * port to the calendar user's plus address while `--wait-reply` watches.
 *
 * The calendar mailbox is shared with other test files: nothing here purges it. send-test only
 * looks at messages that arrive after it starts watching, and every test uses its own summary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ICAL from 'ical.js';
import { ImapFlow } from 'imapflow';
import { writeSqliteStore } from '../helpers/token-store.js';
import { describe, expect, it } from 'vitest';
import { parseMessage, leafParts, decodeWords } from '../../src/imip/mime.js';
import { parseaddr } from '../../src/server/address.js';
import { deliver } from '../mailstack/stack.js';
import { BIN, runCli, type CliResult, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist, type Obj } from '../helpers/plist.js';
import { getStack, type StackUser } from '../helpers/stack.js';
import { REPLY_TEMPLATES, renderReplyTemplate, replyVars, type ReplyTemplate } from '../fixtures/replies/templates.js';

const I = 'Scheduling.iMIP';
const TRACE = new URL('../helpers/trace-imports.mjs', import.meta.url).pathname;
const TOKEN_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function user(local: string): StackUser {
  const u = getStack().users.find((x) => x.local === local);
  if (!u) throw new Error(`no stack user ${local}`);
  return u;
}

type Receiving = 'imaps' | 'imap-starttls' | 'pop3s';

/** A caldavd.plist pointing at the test stack: Postfix submission (STARTTLS + AUTH), Dovecot for replies. */
function stackConfig(changes: Record<string, unknown> = {}, receiving: Receiving = 'imaps', release = '9.2'): string {
  const info = getStack();
  const cal = user('calendar');
  const rx = {
    imaps: { Port: info.ports.imaps, UseSSL: true, Type: 'imap' },
    'imap-starttls': { Port: info.ports.imap, UseSSL: false, Type: 'imap' },
    pop3s: { Port: info.ports.pop3s, UseSSL: true, Type: 'pop' },
  }[receiving];
  let cfg: Obj = baseConfig(release);
  const set: Record<string, unknown> = {
    [`${I}.Sending.Server`]: info.host,
    [`${I}.Sending.Port`]: info.ports.smtp,
    [`${I}.Sending.UseSSL`]: true,
    [`${I}.Sending.Address`]: `Calendar <${cal.address}>`,
    [`${I}.Sending.Username`]: cal.address,
    [`${I}.Sending.Password`]: cal.password,
    [`${I}.Receiving.Server`]: info.host,
    [`${I}.Receiving.Port`]: rx.Port,
    [`${I}.Receiving.UseSSL`]: rx.UseSSL,
    [`${I}.Receiving.Type`]: rx.Type,
    [`${I}.Receiving.Username`]: cal.address,
    [`${I}.Receiving.Password`]: cal.password,
    ...changes,
  };
  for (const [k, v] of Object.entries(set)) cfg = withChange(cfg, k, v);
  return writePlist(tempDir('imip-send-'), 'caldavd.plist', cfg);
}

function uniqueSummary(what: string): string {
  return `imip ${what} ${randomUUID().slice(0, 8)}`;
}

/** send-test with the stack's CA, a private state dir and a short timeout. */
function sendTest(config: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult & { stateDir: string }> {
  const stateDir = tempDir('imip-state-');
  return runCli(['send-test', '--config', config, '--ca-file', getStack().ca, '--state-dir', stateDir, '--timeout', '10', ...args], {
    timeoutMs: opts.timeoutMs ?? 60_000,
  }).then((r) => ({ ...r, stateDir }));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the JSON document of any send-test run, asserted field by field
function json(r: CliResult): Record<string, any> {
  try {
    return jsonOf(r);
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

async function imap(u: StackUser): Promise<ImapFlow> {
  const info = getStack();
  const client = new ImapFlow({
    host: info.host,
    port: info.ports.imaps,
    secure: true,
    auth: { user: u.address, pass: u.password },
    tls: { ca: [info.caPem] },
    logger: false,
  });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen('INBOX', { readOnly: true });
  return client;
}

/** Wait (read-only) for a message in the user's INBOX matching the search; its UID and raw source. */
async function waitForMessage(u: StackUser, query: Record<string, unknown>, timeoutMs = 15_000): Promise<{ uid: number; source: Buffer; flags: Set<string> }> {
  const client = await imap(u);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const uids = (await client.search(query, { uid: true })) || [];
      if (uids.length) {
        const uid = Math.max(...uids);
        const m = await client.fetchOne(String(uid), { uid: true, source: true, flags: true }, { uid: true });
        if (m && m.source) return { uid, source: m.source, flags: m.flags ?? new Set() };
      }
      if (Date.now() > deadline) throw new Error(`no message matching ${JSON.stringify(query)} in ${u.address} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** The stored flags of one message (by Message-ID), read with EXAMINE; null when it is gone. \Recent is per session. */
async function flagsOf(u: StackUser, messageId: string): Promise<string[] | null> {
  const client = await imap(u);
  try {
    const uids = (await client.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
    if (!uids.length) return null;
    const m = await client.fetchOne(String(uids[0]), { uid: true, flags: true }, { uid: true });
    return m ? [...(m.flags ?? [])].filter((f) => f !== '\\Recent') : null;
  } finally {
    await client.logout().catch(() => undefined);
  }
}

function calendarOf(raw: Buffer): { text: string; part: ReturnType<typeof leafParts>[number] } {
  const msg = parseMessage(raw);
  const part = leafParts(msg.root).find((p) => p.type === 'text/calendar');
  if (!part) throw new Error('no text/calendar part');
  return { text: msg.bodies.get(part.part)!.toString('utf8'), part };
}

function secrets(): string[] {
  return getStack().users.map((u) => u.password);
}

// ---------------------------------------------------------------------------------------------

describe('send-test without any server (--dry-run, --save)', () => {
  it('--dry-run --json prints the documented document and the message, and sends nothing', async () => {
    // No Sending.Server at all: a dry run needs none.
    const cfg = writePlist(tempDir(), 'caldavd.plist', withChange(baseConfig('9.2'), `${I}.Sending.Server`, undefined));
    const r = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const doc = json(r);
    for (const k of ['command', 'serverVersion', 'ok', 'attendee', 'token', 'plusAddress', 'messageId', 'uid', 'sent', 'findings', 'reply']) expect(doc).toHaveProperty(k);
    expect(doc).toMatchObject({ command: 'send-test', ok: true, mode: 'dry-run', attendee: 'bob@example.com', sent: null, reply: null, findings: [] });
    expect(doc.serverVersion).toMatchObject({ version: '9.2', line: '5.0+' });
    expect(doc.token).toMatch(TOKEN_RE);
    expect(doc.plusAddress).toBe(`calendar+${doc.token}@example.test`);
    expect(doc.messageId).toMatch(/^<\d{14}\.\d+\.\d+\.\d+@cal\.example\.test>$/);
    expect(doc.raw).toContain(`\r\nReply-To: ${doc.plusAddress}\r\n`);
    expect(doc.raw).toContain(`\r\nMessage-ID: ${doc.messageId}\r\n`);
    expect(doc.event).toMatchObject({ summary: 'imip test invitation', durationMinutes: 30 });
    // Default start: tomorrow 10:00 local time, 30 minutes.
    const start = new Date(doc.event.start);
    expect(new Date(doc.event.end).getTime() - start.getTime()).toBe(30 * 60_000);
    const wall = new Intl.DateTimeFormat('en-GB', { timeZone: doc.event.timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(start);
    expect(wall).toBe('10:00');
    expect(JSON.stringify(doc)).not.toMatch(/send-secret-1|recv-secret-2|gateway-secret-3/);
  });

  it('--dry-run for people shows the facts, the whole message and a summary line', async () => {
    const cfg = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const r = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--dry-run', '--summary', 'Budget review', '--start', '2031-05-06T14:30+02:00', '--duration', '45']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/imip send-test {2}invitation to bob@example\.com, dry run: nothing is sent/);
    expect(r.stdout).toMatch(/Token {9}[0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/Plus address {2}calendar\+[0-9a-f-]{36}@example\.test/);
    expect(r.stdout).toMatch(/----- message \(\d+ bytes, 3 base64 parts shown decoded\) -----/);
    expect(r.stdout).toMatch(/Subject: Event invitation: Budget review/);
    expect(r.stdout).toMatch(/0 errors, 0 warnings, 0 notes; dry run, nothing sent\n$/);
    // The calendar is shown decoded, between marker lines (the message itself carries base64).
    const ics = /\[text\/calendar part decoded from base64 for reading[^\n]*\]\n([\s\S]*?)\n\[end of decoded text\/calendar part\]/.exec(r.stdout)![1]!;
    const ev = new ICAL.Component(ICAL.parse(ics)).getFirstSubcomponent('vevent')!;
    expect(ev.getFirstPropertyValue('summary')).toBe('Budget review');
    const dtstart = ev.getFirstPropertyValue('dtstart') as ICAL.Time;
    const dtend = ev.getFirstPropertyValue('dtend') as ICAL.Time;
    expect(dtend.toUnixTime() - dtstart.toUnixTime()).toBe(45 * 60);
    expect(new Date(dtstart.toUnixTime() * 1000).toISOString()).toBe('2031-05-06T12:30:00.000Z');
  });

  it('a dry run loads neither nodemailer nor imapflow', () => {
    const cfg = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const trace = join(tempDir(), 'trace');
    const r = spawnSync(process.execPath, ['--import', TRACE, BIN, 'send-test', '--config', cfg, '--to', 'bob@example.com', '--dry-run'], {
      env: { ...process.env, IMIP_TRACE_FILE: trace, IMIP_CONFIG: '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const urls = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    expect(urls.some((u) => u.includes('/dist/commands/send-test.js'))).toBe(true);
    for (const heavy of ['nodemailer', 'imapflow', '/dist/probes/', '/dist/mailbox/', '/dist/clients/']) expect(urls.filter((u) => u.includes(heavy))).toEqual([]);
  });

  it('--save writes the .eml and sends nothing', async () => {
    const dir = tempDir();
    const cfg = writePlist(dir, 'caldavd.plist', withChange(baseConfig('4.3'), `${I}.Sending.Server`, ''));
    const file = join(dir, 'invite.eml');
    const r = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--save', file, '--server-version', '4.3', '--json']);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc).toMatchObject({ ok: true, mode: 'save', saved: file, sent: null });
    expect(doc.raw).toBeUndefined();
    const raw = readFileSync(file, 'utf8');
    expect(raw).toContain(`Reply-To: ${doc.plusAddress}\r\n`);
    expect(raw.split('\r\n\r\n')[0]).toMatch(/^Content-Type: multipart\/mixed; boundary=/);
    // 3.2+ header order: From, Subject, Reply-To, To, Date, Message-ID.
    const names = raw.split('\r\n\r\n')[0]!.split('\r\n').filter((l) => !/^\s/.test(l)).map((l) => l.split(':')[0]);
    expect(names).toEqual(['Content-Type', 'MIME-Version', 'From', 'Subject', 'Reply-To', 'To', 'Date', 'Message-ID']);
  });

  it('--save - writes the message on stdout, the same bytes as a file, and the report on stderr; not with --json', async () => {
    // It wrote a file named "-" in the working directory.
    const dir = tempDir();
    const cfg = writePlist(dir, 'caldavd.plist', withChange(baseConfig('4.3'), `${I}.Sending.Server`, ''));
    const r = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--save', '-', '--server-version', '4.3'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(readdirSync(dir)).toEqual(['caldavd.plist']);
    const head = r.stdout.split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^Content-Type: multipart\/mixed; boundary=/);
    expect(head).toMatch(/\r\nReply-To: calendar\+[0-9a-f-]{36}@/);
    expect(r.stderr).toMatch(/saved to stdout, nothing sent/);
    expect(r.stdout).not.toMatch(/nothing sent/);
    const both = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--save', '-', '--json'], { cwd: dir });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^imip: --save - writes the message on stdout, where --json writes its document/);
  });

  it('a summary with line breaks and non-ASCII text cannot inject a header and arrives intact', async () => {
    const cfg = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const summary = 'Grüße\r\nBcc: evil@attacker.test\nX-Injected: yes\r\n\r\nbody';
    const r = await runCli(['send-test', '--config', cfg, '--to', 'bob@example.com', '--dry-run', '--json', '--summary', summary]);
    expect(r.code).toBe(0);
    const doc = json(r);
    const head = (doc.raw as string).split('\r\n\r\n')[0]!;
    expect(head).not.toMatch(/^Bcc:/im);
    expect(head).not.toMatch(/^X-Injected:/im);
    for (const line of head.split('\r\n')) expect(line).toMatch(/^([A-Za-z-]+: |[ \t])/);
    const msg = parseMessage(Buffer.from(doc.raw, 'utf8'));
    expect(msg.headers.getAll('Subject')).toHaveLength(1);
    expect(decodeWords(msg.headers.get('Subject')!)).toBe('Event invitation: Grüße Bcc: evil@attacker.test X-Injected: yes  body');
    expect(msg.headers.get('Bcc')).toBeUndefined();
    const { text } = calendarOf(Buffer.from(doc.raw, 'utf8'));
    const ev = new ICAL.Component(ICAL.parse(text)).getFirstSubcomponent('vevent')!;
    expect(ev.getFirstPropertyValue('summary')).toBe('Grüße\nBcc: evil@attacker.test\nX-Injected: yes\n\nbody');
    expect(doc.findings).toEqual([]);
  });
});

describe('hostile or malformed input: one line on stderr, exit 2, nothing sent', () => {
  const cases: [string, string[], RegExp][] = [
    ['CR LF in --to', ['--to', 'alice@example.test\r\nBcc: evil@attacker.test'], /^imip: --to: .*line break/],
    ['LF in --to', ['--to', 'alice@example.test\nX: y'], /^imip: --to: .*line break/],
    ['bare CR in --to', ['--to', 'alice@example.test\r'], /^imip: --to: .*line break/],
    ['no @ in --to', ['--to', 'alice.example.test'], /^imip: --to: .*no @/],
    ['two addresses in --to', ['--to', 'alice@example.test,evil@attacker.test'], /^imip: --to: /],
    ['a display name in --to', ['--to', 'Alice <alice@example.test>'], /^imip: --to: /],
    ['CR LF in --organizer', ['--to', 'alice@example.test', '--organizer', 'org@example.test\r\nBcc: evil@attacker.test'], /^imip: --organizer: .*line break/],
    ['no @ in --organizer', ['--to', 'alice@example.test', '--organizer', 'organizer'], /^imip: --organizer: .*no @/],
    ['unparsable --start', ['--to', 'alice@example.test', '--start', 'tomorrow at ten'], /^imip: --start: .*not an ISO-8601/],
    ['impossible --start', ['--to', 'alice@example.test', '--start', '2030-02-30T10:00'], /^imip: --start: .*not a date/],
    ['date-only --start', ['--to', 'alice@example.test', '--start', '2030-02-03'], /^imip: --start: .*without a time/],
    ['negative --duration', ['--to', 'alice@example.test', '--duration', '-5'], /^imip: --duration: /],
    ['zero --duration', ['--to', 'alice@example.test', '--duration', '0'], /^imip: --duration: /],
    ['fractional --duration', ['--to', 'alice@example.test', '--duration', '1.5'], /^imip: --duration: /],
    ['negative --wait-reply', ['--to', 'alice@example.test', '--wait-reply', '-1'], /^imip: --wait-reply: /],
    ['--wait-reply with --dry-run', ['--to', 'alice@example.test', '--wait-reply', '5', '--dry-run'], /^imip: --wait-reply .*--dry-run/],
    ['bad --timeout', ['--to', 'alice@example.test', '--timeout', 'soon'], /^imip: --timeout: /],
    ['missing --ca-file', ['--to', 'alice@example.test', '--ca-file', '/nonexistent/ca.pem'], /^imip: --ca-file .*no such file/],
  ];
  const cfg = (): string => stackConfig();
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const stateDir = tempDir('imip-state-');
      const r = await runCli(['send-test', '--config', cfg(), '--state-dir', stateDir, ...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(existsSync(join(stateDir, 'sent-tokens.jsonl'))).toBe(false);
    });
  }
});

describe('refusals: what the server would never send (exit 1)', () => {
  it('an attendee no AddressPattern routes to iMIP is refused with the pattern list and the reason', async () => {
    const cfg = stackConfig({ [`${I}.AddressPatterns`]: ['mailto:.*@remote\\.test', 'mailto:.*@Example\\.test'] });
    const r = await sendTest(cfg, ['--to', 'alice@example.test']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/send-test\.attendee-not-routed/);
    expect(r.stdout).toMatch(/none of the 2 AddressPatterns matches mailto:alice@example\.test/);
    expect(r.stdout).toMatch(/upper-case letters never match a lower-cased address: "mailto:\.\*@Example\\\\\.test"/);
    expect(r.stdout).toMatch(/Unknown calendar user address: mailto:alice@example\.test/);
    expect(r.stdout).toMatch(/patterns=\["mailto:\.\*@remote\\\\\.test","mailto:\.\*@Example\\\\\.test"\]/);
    expect(r.stdout).toMatch(/not sent/);
    expect(r.stdout).toMatch(/--force/);
    expect(existsSync(join(r.stateDir, 'sent-tokens.jsonl'))).toBe(false);

    const j = json(await sendTest(cfg, ['--to', 'alice@example.test', '--json']));
    expect(j).toMatchObject({ ok: false, sent: null, routing: { matched: null, forced: false } });
    expect(j.findings.find((f: { id: string }) => f.id === 'send-test.attendee-not-routed')).toMatchObject({ severity: 'error', path: `${I}.AddressPatterns` });
  });

  it('--force sends anyway and says so', async () => {
    const summary = uniqueSummary('force');
    const cfg = stackConfig({ [`${I}.AddressPatterns`]: ['mailto:.*@remote\\.test'] });
    const r = await sendTest(cfg, ['--to', 'alice@example.test', '--force', '--summary', summary, '--json']);
    expect(r.code).toBe(0);
    const doc = json(r);
    expect(doc).toMatchObject({ ok: true, routing: { matched: null, forced: true } });
    expect(doc.sent.reply).toMatch(/^250 /);
    expect(doc.findings.find((f: { id: string }) => f.id === 'send-test.attendee-not-routed')).toMatchObject({ severity: 'warning' });
    await waitForMessage(user('alice'), { header: { 'message-id': doc.messageId } });
  });

  it('iMIP disabled: refused, because the server sends nothing by mail', async () => {
    const r = await sendTest(stackConfig({ [`${I}.Enabled`]: false }), ['--to', 'alice@example.test', '--json']);
    expect(r.code).toBe(1);
    expect(json(r).findings.map((f: { id: string }) => f.id)).toContain('send-test.imip-disabled');
  });

  it('Sending.Port 465 is refused with check-config\'s explanation, before any connection', async () => {
    const cfg = stackConfig({ [`${I}.Sending.Port`]: 465, [`${I}.Sending.Server`]: '192.0.2.1' });
    const r = await sendTest(cfg, ['--to', 'alice@example.test']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/sending\.implicit-tls-port/);
    expect(r.stdout).toMatch(/only speaks STARTTLS when sending/);
    expect(r.stdout).toMatch(/fix: Use the submission port 587 with UseSSL true/);
    const doc = json(await sendTest(cfg, ['--to', 'alice@example.test', '--json']));
    expect(doc.sent).toBeNull();
    expect(doc.smtp).toMatchObject({ port: 465, tls: 'starttls-required' });
  });

  it('an empty Sending.Server cannot run (exit 2) unless it is a dry run', async () => {
    const cfg = stackConfig({ [`${I}.Sending.Server`]: '' });
    const r = await sendTest(cfg, ['--to', 'alice@example.test']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imip: Scheduling\.iMIP\.Sending\.Server is empty/);
    expect((await sendTest(cfg, ['--to', 'alice@example.test', '--dry-run'])).code).toBe(0);
  });
});

describe.concurrent('sending through the real Postfix', () => {
  it('delivers the invitation as the server builds it; the +token survives delivery', async () => {
    const summary = uniqueSummary('delivery');
    const r = await sendTest(stackConfig(), ['--to', 'alice@example.test', '--summary', summary, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = json(r);
    expect(doc.ok).toBe(true);
    expect(doc.sent.reply).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$/);
    expect(doc.sent.queueId).toBe(/queued as ([0-9A-Za-z]+)/.exec(doc.sent.reply)![1]);
    expect(doc.sent).toMatchObject({ encrypted: true, authenticated: true, accepted: ['alice@example.test'], rejected: [] });
    expect(doc.envelope).toEqual({ from: 'calendar@example.test', to: ['alice@example.test'] });

    // The token store, as poll and diagnose read it.
    const rec = readFileSync(join(r.stateDir, 'sent-tokens.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rec).toEqual([
      {
        token: doc.token,
        organizer: 'mailto:calendar@example.test',
        attendee: 'mailto:alice@example.test',
        uid: doc.uid,
        sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        messageId: doc.messageId,
        plusAddress: doc.plusAddress,
      },
    ]);

    const { source } = await waitForMessage(user('alice'), { header: { 'message-id': doc.messageId } });
    const msg = parseMessage(source);
    const h = msg.headers;
    // Envelope: MAIL FROM is the organizer (Return-Path), RCPT TO the attendee.
    expect(h.get('Return-Path')).toBe('<calendar@example.test>');
    expect(h.get('Delivered-To')).toBe('alice@example.test');
    // Headers as the server's `generateEmail` writes them, untouched by the relay.
    expect(h.get('From')).toBe('"Calendar Server" <calendar@example.test>');
    expect(decodeWords(h.get('Subject')!)).toBe(`Event invitation: ${summary}`);
    expect(h.get('Reply-To')).toBe(`calendar+${doc.token}@example.test`);
    expect(parseaddr(h.get('Reply-To')).address).toBe(doc.plusAddress);
    expect(h.get('To')).toBe('alice@example.test');
    expect(h.get('Message-ID')).toBe(doc.messageId);
    expect(h.get('MIME-Version')).toBe('1.0');
    for (const name of ['Cc', 'Bcc', 'Sender', 'In-Reply-To', 'X-Mailer']) expect(h.get(name)).toBeUndefined();
    // MIME: multipart/mixed [alternative [text/plain, related [text/html]], text/calendar].
    const layout = (p: typeof msg.root): string => (p.children.length ? `${p.type}[${p.children.map(layout).join(', ')}]` : p.type);
    expect(layout(msg.root)).toBe('multipart/mixed[multipart/alternative[text/plain, multipart/related[text/html]], text/calendar]');
    expect(msg.problems).toEqual([]);
    const { text, part } = calendarOf(source);
    expect(part.params).toMatchObject({ charset: 'utf-8', method: 'request' });
    expect(part.encoding).toBe('base64');
    expect(part.disposition).toBe('inline');
    expect(part.dispositionParams.filename).toBe('invitation.ics');
    // iCalendar, parsed with ical.js.
    const cal = new ICAL.Component(ICAL.parse(text));
    expect(cal.getFirstPropertyValue('method')).toBe('REQUEST');
    expect(cal.getFirstPropertyValue('prodid')).toBe('-//CALENDARSERVER.ORG//NONSGML Version 1//EN');
    const ev = cal.getFirstSubcomponent('vevent')!;
    expect(ev.getFirstPropertyValue('uid')).toBe(doc.uid);
    expect(ev.getFirstPropertyValue('summary')).toBe(summary);
    const org = ev.getFirstProperty('organizer')!;
    expect(org.getFirstValue()).toBe(`mailto:${doc.plusAddress}`);
    expect(org.getParameter('email')).toBe('calendar@example.test');
    const attendees = ev.getAllProperties('attendee').map((p) => [p.getFirstValue(), p.getParameter('partstat'), p.getParameter('rsvp')]);
    expect(attendees).toEqual([
      [`mailto:${doc.plusAddress}`, 'ACCEPTED', undefined],
      ['mailto:alice@example.test', 'NEEDS-ACTION', 'TRUE'],
    ]);
    expect(text.split('\r\n').every((l) => Buffer.byteLength(l) <= 75)).toBe(true);
  });

  it('names the final reply, the queue id, the Message-ID, the token, the plus address and the attendee', async () => {
    const summary = uniqueSummary('human');
    const r = await sendTest(stackConfig(), ['--to', 'alice@example.test', '--summary', summary, '--no-color']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/imip send-test {2}invitation to alice@example\.test, through SMTP (127\.0\.0\.1|localhost):\d+ \(STARTTLS required\)/);
    expect(r.stdout).toMatch(/✓ sent {10}250 2\.0\.0 Ok: queued as \w+/);
    expect(r.stdout).toMatch(/queue id \w+, STARTTLS, authenticated as calendar@example\.test/);
    expect(r.stdout).toMatch(/Message-ID {4}<[^>]+@cal\.example\.test>/);
    expect(r.stdout).toMatch(/Token {9}[0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/Plus address {2}calendar\+[0-9a-f-]{36}@example\.test/);
    expect(r.stdout).toMatch(/Attendee {6}alice@example\.test {2}AddressPatterns: "mailto:\.\*" matches mailto:alice@example\.test/);
    expect(r.stdout).toMatch(/token recorded in .*sent-tokens\.jsonl/);
    expect(r.stdout).toMatch(/0 errors, 0 warnings, 0 notes; sent, queued as \w+\n$/);
    const q = await runCli(['send-test', '--config', stackConfig(), '--ca-file', getStack().ca, '--state-dir', tempDir(), '--to', 'alice@example.test', '--quiet']);
    expect(q.code).toBe(0);
    expect(q.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('UseSSL false: STARTTLS when offered, TLS 1.0 only, as the server; the MX refuses TLS 1.0', async () => {
    const cfg = stackConfig({ [`${I}.Sending.Port`]: getStack().ports.mx, [`${I}.Sending.UseSSL`]: false, [`${I}.Sending.Username`]: '', [`${I}.Sending.Password`]: '' });
    const r = await sendTest(cfg, ['--to', 'alice@example.test', '--summary', uniqueSummary('plain'), '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(json(r).findings.map((f: { id: string }) => f.id)).toContain('smtp.tls10-refused');
    // The relay refused no message: the handshake failed, and the line says so.
    const human = await sendTest(cfg, ['--to', 'alice@example.test', '--summary', uniqueSummary('plain')]);
    expect(human.stdout).toMatch(/✗ not sent {6}the TLS handshake with the SMTP server failed \(below\)\n/);
    expect(human.stdout).not.toMatch(/did not take it/);
  });

  it('a wrong SMTP password: exit 1, the server\'s refusal, and no password in any output', async () => {
    const wrong = 'Wrong-pw-8841-not-this';
    const cfg = stackConfig({ [`${I}.Sending.Password`]: wrong });
    for (const extra of [[], ['--json'], ['--verbose'], ['--json', '--verbose']]) {
      const r = await sendTest(cfg, ['--to', 'alice@example.test', ...extra]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/smtp\.auth-failed/);
      expect(r.stdout).toMatch(/rejected the user name or password/);
      if (!extra.includes('--json')) expect(r.stdout).toMatch(/✗ not sent {6}the login to the SMTP server failed: 535 /);
      for (const pw of [wrong, Buffer.from(wrong).toString('base64').replace(/=+$/, ''), ...secrets()]) expect(r.stdout + r.stderr).not.toContain(pw);
    }
  });

  it('an untrusted certificate fails with a hint; --insecure sends (and the verbose transcript hides the password)', async () => {
    const cfg = stackConfig();
    const stateDir = tempDir();
    const bad = await runCli(['send-test', '--config', cfg, '--state-dir', stateDir, '--to', 'alice@example.test', '--json', '--timeout', '10']);
    expect(bad.code).toBe(1);
    // The server sends anyway (it never checks the chain): a warning; this test stopped before
    // the password and says how to go on.
    const f = json(bad).findings.find((x: { id: string }) => x.id === 'smtp.certificate-untrusted');
    expect(f.severity).toBe('warning');
    expect(f.message).toMatch(/would go on and log in.*--ca-file/);
    const ok = await runCli(['send-test', '--config', cfg, '--state-dir', stateDir, '--to', 'alice@example.test', '--insecure', '--verbose', '--summary', uniqueSummary('insecure')]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/SMTP transcript/);
    expect(ok.stdout).toMatch(/tls\.insecure/);
    expect(ok.stdout).toMatch(/C: STARTTLS/);
    for (const pw of secrets()) expect(ok.stdout).not.toContain(pw);
  });
});

// ---------------------------------------------------------------------------------------------

interface WaitRun {
  result: CliResult & { stateDir: string };
  invitation: { token: string; uid: string; messageId: string; replyTo: string };
  reply: { messageId: string; raw: string } | null;
}

/**
 * Run send-test --wait-reply; meanwhile read the delivered invitation from alice's INBOX and answer
 * it with `template` (or not at all), delivered over the MX port to the address the client uses.
 */
async function waitRun(
  template: ReplyTemplate | null,
  opts: { receiving?: Receiving; seconds?: number; args?: string[]; beforeReply?: (invitation: WaitRun['invitation']) => Promise<void> } = {},
): Promise<WaitRun> {
  const summary = uniqueSummary(template ?? 'silence');
  const running = sendTest(stackConfig({}, opts.receiving ?? 'imaps'), ['--to', 'alice@example.test', '--summary', summary, '--wait-reply', String(opts.seconds ?? 30), ...(opts.args ?? ['--json'])], { timeoutMs: 90_000 });
  // The attendee's side: the invitation as delivered.
  const { source } = await waitForMessage(user('alice'), { subject: summary }, 20_000);
  const msg = parseMessage(source);
  const replyTo = parseaddr(msg.headers.get('Reply-To')).address;
  const ics = calendarOf(source).text;
  const ev = new ICAL.Component(ICAL.parse(ics)).getFirstSubcomponent('vevent')!;
  const invitation = {
    token: /\+([^@]+)@/.exec(replyTo)![1]!,
    uid: String(ev.getFirstPropertyValue('uid')),
    messageId: msg.headers.get('Message-ID')!,
    replyTo,
  };
  let reply: WaitRun['reply'] = null;
  await opts.beforeReply?.(invitation);
  if (template) {
    const start = (ev.getFirstPropertyValue('dtstart') as ICAL.Time).toJSDate();
    const end = (ev.getFirstPropertyValue('dtend') as ICAL.Time).toJSDate();
    const vars = replyVars({
      TOKEN: invitation.token,
      UID: invitation.uid,
      ATTENDEE: 'alice@example.test',
      ORGANIZER: replyTo,
      ORGANIZER_BARE: 'calendar@example.test',
      SUMMARY: summary,
      IN_REPLY_TO: invitation.messageId,
      start,
      end,
    });
    const raw = renderReplyTemplate(template, vars);
    const to = parseaddr(parseMessage(Buffer.from(raw)).headers.get('To')).address;
    await deliver(getStack(), { from: 'alice@example.test', to: [to], raw });
    reply = { messageId: `<${template === 'gmail' ? 'calendar-' : ''}${vars.MESSAGE_ID}>`, raw };
  }
  return { result: await running, invitation, reply };
}

describe.concurrent('--wait-reply on the real mailbox', () => {
  const receivingFor: Record<ReplyTemplate, Receiving> = { apple: 'pop3s', thunderbird: 'imaps', outlook: 'imap-starttls', gmail: 'pop3s', 'bare-address': 'imaps' };
  // The apple shape goes all the way in test/roundtrip (and is judged in wait-reply.test.ts).
  for (const template of REPLY_TEMPLATES.filter((t) => t !== 'bare-address' && t !== 'apple')) {
    it(`a ${template} reply is accepted (${receivingFor[template]}), and the mailbox is left as it was`, async () => {
      const { result, invitation, reply } = await waitRun(template, { receiving: receivingFor[template] });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const doc = json(result);
      expect(doc.ok).toBe(true);
      expect(doc.token).toBe(invitation.token);
      expect(doc.reply).toMatchObject({
        outcome: 'accepted',
        serverAction: 'INJECTION_SUBMITTED',
        token: invitation.token,
        tokenStatus: 'known',
        method: 'REPLY',
        partstat: 'ACCEPTED',
        causes: [],
        bounced: false,
        error: null,
      });
      expect(doc.reply.message).toMatchObject({ messageId: reply!.messageId, from: 'alice@example.test' });
      expect(doc.reply.message.matchedBy).toEqual(expect.arrayContaining(['token', 'uid']));
      expect(doc.reply.mailbox.protocol).toBe(receivingFor[template] === 'pop3s' ? 'pop3' : 'imap');
      expect(doc.findings.filter((f: { severity: string }) => f.severity === 'error')).toEqual([]);
      // Read-only: the reply is still there, and not even \Seen.
      expect(await flagsOf(user('calendar'), reply!.messageId)).toEqual([]);
    });
  }

  it('a reply to the bare address: token-missing, and why', async () => {
    const { result, reply } = await waitRun('bare-address');
    expect(result.code).toBe(1);
    const doc = json(result);
    expect(doc.ok).toBe(false);
    expect(doc.reply).toMatchObject({ outcome: 'token-missing', serverAction: 'NO_TOKEN', token: null, partstat: 'ACCEPTED' });
    expect(doc.reply.causes).toContain('token.to-bare-address');
    expect(doc.reply.reason).toMatch(/addressed to calendar@example\.test/);
    expect(doc.reply.message.matchedBy).toEqual(expect.arrayContaining(['in-reply-to', 'uid']));
    const cause = doc.findings.find((f: { id: string }) => f.id === 'token.to-bare-address');
    expect(cause).toMatchObject({ severity: 'error' });
    expect(await flagsOf(user('calendar'), reply!.messageId)).toEqual([]);
  });

  it('no reply: times out with no-reply and exit 1', async () => {
    const started = Date.now();
    const { result } = await waitRun(null, { seconds: 3, args: ['--no-color'] });
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(result.stdout).toMatch(/… waiting up to 3 s for the reply in IMAP (127\.0\.0\.1|localhost):\d+ \(IMAP EXAMINE INBOX \(read-only\)/);
    expect(result.stdout).toMatch(/✗ no-reply {6}nothing answering this invitation arrived within 3 s/);
    expect(result.stdout).toMatch(/send-test\.no-reply/);
    expect(result.stdout).toMatch(/reply: no-reply\n$/);
    for (const pw of secrets()) expect(result.stdout + result.stderr).not.toContain(pw);
  });

  it('human output of an accepted reply', async () => {
    const { result } = await waitRun('thunderbird', { args: ['--no-color'] });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/✓ accepted {6}the token is intact in the first To address and the calendar is a REPLY from alice@example\.test with PARTSTAT=ACCEPTED/);
    expect(result.stdout).toMatch(/server: INJECTION_SUBMITTED, PARTSTAT=ACCEPTED, mailbox: deleted/);
    expect(result.stdout).toMatch(/reply: accepted\n$/);
  });

  it("says whether the server's token store holds the token sent, and what that means", async () => {
    const dir = tempDir();
    const store = join(dir, 'mailgatewaytokens.sqlite');
    await writeSqliteStore(store, [{ token: '00000000-0000-4000-8000-000000000000', organizer: 'mailto:x@example.test', attendee: 'mailto:y@remote.test', uid: 'X', date: '2026-01-01' }]);
    // Not in the store: a test invitation never passes through the server.
    const absent = await waitRun('thunderbird', { args: ['--json', '--token-store', store] });
    const doc = json(absent.result);
    expect(doc.serverStore).toMatchObject({ holdsToken: false, store: { kind: 'sqlite', readable: true, rows: 1 } });
    expect(doc.findings.find((f: { id: string }) => f.id === 'token.store-state').message).toMatch(/does not hold token .*mailed by imip, not by the server/);
    // In the store (as if the server had issued it): the server recognizes the reply.
    const held = await waitRun('thunderbird', {
      args: ['--json', '--token-store', store],
      beforeReply: (inv) => writeSqliteStore(store, [{ token: inv.token, organizer: 'mailto:calendar@example.test', attendee: 'mailto:alice@example.test', uid: inv.uid, date: '2026-01-01' }]).then(() => undefined),
    });
    expect(json(held.result).serverStore).toMatchObject({ holdsToken: true });
    expect(json(held.result).findings.find((f: { id: string }) => f.id === 'token.store-state').message).toMatch(/holds token .*recognizes the reply/);
  });

  // Ctrl-C, or SIGTERM from systemd or `timeout`, while --wait-reply waits (no round trip): the
  // wait stops, the run says what went out, and the output ends as a whole for each format.
  const interruptedWait = (sig: NodeJS.Signals, format: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const child = spawn(
      process.execPath,
      [BIN, 'send-test', '--config', stackConfig(), '--ca-file', getStack().ca, '--state-dir', tempDir('imip-state-'), '--to', 'alice@example.test', '--wait-reply', '60', '--no-color', ...format],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // The wait has begun once the invitation is accepted (human) or after a moment (--json, nagios).
    const timer = setTimeout(() => child.kill(sig), 4000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (/waiting up to 60 s/.test(stdout)) {
        clearTimeout(timer);
        setTimeout(() => child.kill(sig), 300);
      }
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  };

  it.each([
    ['SIGINT', 'human', [], 130],
    ['SIGTERM', '--json', ['--json'], 143],
    ['SIGINT', 'nagios', ['--format', 'nagios'], 3],
  ] as const)('%s while --wait-reply waits (%s): says the invitation was sent and nothing is to remove; exit %i', async (sig, _name, format, exit) => {
    const r = await interruptedWait(sig, [...format]);
    expect(r.code).toBe(exit);
    expect(r.stderr).toMatch(new RegExp(`imip: interrupted by ${sig} while waiting for the reply after [\\d.]+ s of 60; no reply had arrived; the invitation was sent \\(Message-ID <[^>]+>, token [0-9a-f-]{36}\\); the mailbox was only read, nothing to remove`));
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    if (format[0] === '--json') {
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({ command: 'send-test', ok: false, interrupted: sig, exitCode: exit, sent: { accepted: ['alice@example.test'] } });
      expect(doc.error).toMatch(/^interrupted by SIGTERM while waiting for the reply/);
    } else if (format[0] === '--format') {
      expect(r.stdout).toMatch(/^IMIP UNKNOWN - send-test: interrupted by SIGINT while waiting for the reply/);
    } else {
      expect(r.stdout).toMatch(/✓ sent/);
    }
  });

  it('a mailbox that cannot be read: nothing is sent (exit 1)', async () => {
    const cfg = stackConfig({ [`${I}.Receiving.Password`]: 'Wrong-pw-3310-mailbox' });
    const r = await sendTest(cfg, ['--to', 'alice@example.test', '--wait-reply', '5', '--json']);
    expect(r.code).toBe(1);
    const doc = json(r);
    expect(doc.sent).toBeNull();
    expect(doc.findings.find((f: { id: string }) => f.id === 'mailbox.login-failed').message).toMatch(/refused the login as "calendar@example\.test"/);
    expect(r.stdout).not.toContain('Wrong-pw-3310-mailbox');
  });
});
