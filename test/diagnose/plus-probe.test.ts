/**
 * `--probe plus-address` on the real Postfix + Dovecot stack: once with plus addressing on (kept,
 * probe removed, nothing else touched), once on a stack with recipient_delimiter off (refused at
 * RCPT: plus.rejected), and with a receiving account that is not the mailbox of Sending.Address.
 * Own stacks with own users, so no other test's mailbox is touched.
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortOffset, mailboxCount, mailboxFlags, purgeMailbox, seedMailbox, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';
import { probePlusAddress } from '../../src/diagnose/plus-address-probe.js';
import { loadForCommand } from '../../src/commands/shared.js';
import { config, runDiagnose, writeConfig } from '../fixtures/diagnose/helpers.js';

const USERS = [
  { address: 'cal-diag@example.test', password: 'Cal-diag-pw-5521' },
  { address: 'other-diag@example.test', password: 'Other-diag-pw-7734' },
];

let on: StackInfo;
let off: StackInfo;

beforeAll(async () => {
  [on, off] = await Promise.all([
    freePortOffset(24000, process.pid % 20, 20).then((o) => startStack({ portOffset: o, users: USERS })),
    freePortOffset(28000, process.pid % 20, 20).then((o) => startStack({ portOffset: o, users: USERS, plus: false })),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([on && stopStack(on, { remove: true }), off && stopStack(off, { remove: true })]);
}, 60_000);

/** A config whose Sending and Receiving are the stack's (STARTTLS submission, IMAPS or POP3S). */
function stackConfig(s: StackInfo, o: { protocol?: 'imap' | 'pop3'; receivingUser?: string; sendingAddress?: string } = {}) {
  const send = USERS[0]!;
  const recv = USERS.find((u) => u.address === (o.receivingUser ?? send.address))!;
  const pop = o.protocol === 'pop3';
  return config('9.2', {
    'Scheduling.iMIP.Sending.Server': s.host,
    'Scheduling.iMIP.Sending.Port': s.ports.smtp,
    'Scheduling.iMIP.Sending.UseSSL': true,
    'Scheduling.iMIP.Sending.Address': o.sendingAddress ?? `Calendar <${send.address}>`,
    'Scheduling.iMIP.Sending.Username': send.address,
    'Scheduling.iMIP.Sending.Password': send.password,
    'Scheduling.iMIP.Receiving.Server': s.host,
    'Scheduling.iMIP.Receiving.Port': pop ? s.ports.pop3s : s.ports.imaps,
    'Scheduling.iMIP.Receiving.UseSSL': true,
    'Scheduling.iMIP.Receiving.Type': pop ? 'pop' : 'imap',
    'Scheduling.iMIP.Receiving.Username': recv.address,
    'Scheduling.iMIP.Receiving.Password': recv.password,
  });
}

async function probeOn(s: StackInfo, o: Parameters<typeof stackConfig>[1] & { waitMs?: number } = {}) {
  const { ctx } = await loadForCommand({ config: writeConfig(stackConfig(s, o)), serverVersion: '9.2' });
  return probePlusAddress({ settings: ctx.settings, version: ctx.version, conn: { timeoutMs: 5000, insecure: false, ca: s.caPem }, ...(o.waitMs ? { waitMs: o.waitMs } : {}) });
}

const SEED = (id: string) => `From: someone@remote.test\r\nTo: cal-diag@example.test\r\nSubject: keep me\r\nMessage-ID: <${id}@remote.test>\r\n\r\nhello\r\n`;

describe('plus addressing on', () => {
  it('IMAP: the probe arrives with +detail in To and Delivered-To, and only it is removed (UID EXPUNGE)', async () => {
    await purgeMailbox(on, 'cal-diag@example.test');
    const [keep, flagged] = await seedMailbox(on, 'cal-diag@example.test', [SEED('keep-1'), SEED('flagged-1')]);
    // A message someone flagged \Deleted: a bare EXPUNGE would remove it, UID EXPUNGE must not.
    const c = new ImapFlow({ host: '127.0.0.1', port: on.ports.imaps, secure: true, tls: { ca: on.caPem }, auth: { user: USERS[0]!.address, pass: USERS[0]!.password }, logger: false });
    await c.connect();
    await c.mailboxOpen('INBOX');
    await c.messageFlagsAdd(String(flagged), ['\\Deleted'], { uid: true });
    await c.logout();

    const r = await probeOn(on);
    expect(r.outcome).toBe('kept');
    expect(r.findings).toEqual([]);
    expect(r.address).toMatch(/^cal-diag\+imip-probe-[0-9a-f]{12}@example\.test$/);
    expect(r.smtp.accepted).toBe(true);
    expect(r.sighting).toMatchObject({ to: r.address, deliveredTo: [r.address], removed: 'expunged' });
    expect(r.summary).toMatch(/kept in To and Delivered-To/);
    const flags = await mailboxFlags(on, 'cal-diag@example.test');
    expect([...flags.keys()]).toEqual([keep, flagged]);
    expect(flags.get(keep!)).toEqual([]);
    expect(flags.get(flagged!)).toEqual(['\\Deleted']);
  });

  it('POP3: found by UIDL and Message-ID, removed with DELE of exactly that message', async () => {
    await purgeMailbox(on, 'cal-diag@example.test');
    await seedMailbox(on, 'cal-diag@example.test', [SEED('keep-2')]);
    const r = await probeOn(on, { protocol: 'pop3' });
    expect(r.outcome).toBe('kept');
    expect(r.sighting).toMatchObject({ to: r.address, removed: 'dele' });
    expect(r.sighting!.where).toMatch(/^message 2 \(UIDL /);
    expect(await mailboxCount(on, 'cal-diag@example.test')).toBe(1);
  });

  it('a receiving account that is not the mailbox of Sending.Address: neither probe nor control arrives', async () => {
    await purgeMailbox(on, 'cal-diag@example.test');
    await purgeMailbox(on, 'other-diag@example.test');
    const r = await probeOn(on, { receivingUser: 'other-diag@example.test', waitMs: 1500 });
    expect(r.outcome).toBe('wrong-mailbox');
    expect(r.findings.map((f) => f.id)).toEqual(['plus.wrong-mailbox']);
    expect(r.control).toMatchObject({ address: 'cal-diag@example.test', accepted: true, arrived: false });
    expect(await mailboxCount(on, 'other-diag@example.test')).toBe(0);
    await purgeMailbox(on, 'cal-diag@example.test');
  });
});

describe('the mailbox over POP3 (diagnose without inputs)', () => {
  it('reads every message with RETR and no DELE, and judges each with the classifier', async () => {
    await purgeMailbox(on, 'cal-diag@example.test');
    const bare = SEED('bare-1').replace('Subject: keep me', 'Subject: Accepted: meeting');
    await seedMailbox(on, 'cal-diag@example.test', [bare, SEED('bare-2')]);
    const r = await runDiagnose({ version: '9.2', cfg: stackConfig(on, { protocol: 'pop3' }), ca: on.caPem, timeoutMs: 5000 });
    expect(r.mailbox).toMatchObject({ protocol: 'pop3', readOnly: true, exists: 2, examined: 2 });
    expect(r.messages.map((m) => [m.label, m.serverAction, m.causes.filter((c) => c.startsWith('token.'))])).toEqual([
      ['message 1', 'NO_TOKEN', ['token.to-bare-address', 'token.absent']],
      ['message 2', 'NO_TOKEN', ['token.to-bare-address', 'token.absent']],
    ]);
    expect(await mailboxCount(on, 'cal-diag@example.test')).toBe(2);
    await purgeMailbox(on, 'cal-diag@example.test');
  });
});

describe('plus addressing off (recipient_delimiter empty)', () => {
  it('the relay refuses local+detail@ at RCPT: plus.rejected, with the 550 as evidence', async () => {
    await purgeMailbox(off, 'cal-diag@example.test');
    const r = await probeOn(off);
    expect(r.outcome).toBe('rejected');
    expect(r.findings.map((f) => [f.id, f.severity])).toEqual([['plus.rejected', 'error']]);
    expect(r.smtp.reply).toMatch(/^550 /);
    // The bare address was asked in the same session (RCPT TO, RSET) and accepted: plus addressing is to blame.
    expect(r.bareCheck).toMatchObject({ to: 'cal-diag@example.test', accepted: true });
    expect(r.findings[0]!.message).toMatch(/does not accept "\+detail" addresses/);
    expect(r.findings[0]!.fix).toMatch(/recipient_delimiter = \+/);
    expect(await mailboxCount(off, 'cal-diag@example.test')).toBe(0);
  });

  it('diagnose --probe plus-address: the Plus addressing area says it', async () => {
    const r = await runDiagnose({ version: '9.2', cfg: stackConfig(off), probe: 'plus-address', ca: off.caPem, timeoutMs: 5000 });
    const area = r.areas.find((a) => a.area === 'plus')!;
    expect(area).toMatchObject({ status: 'error', causes: ['plus.rejected'] });
    expect(area.summary).toMatch(/the mail system refuses plus addresses: RCPT TO:<cal-diag\+imip-probe-[0-9a-f]+@example\.test> got "550 /);
    expect(r.exitCode).toBe(1);
  });
});

describe('a recipient the relay refuses whatever its +detail (Sending.Address an unknown user)', () => {
  it('both the plus and the bare address refused: plus.address-refused under Sending, not plus.rejected; Plus addressing not tested', async () => {
    const r = await runDiagnose({ version: '9.2', cfg: stackConfig(on, { sendingAddress: 'nosuchuser@example.test' }), probe: 'plus-address', ca: on.caPem, timeoutMs: 5000 });
    const ids = r.findings.map((f: { id: string }) => f.id);
    expect(ids).toContain('plus.address-refused');
    expect(ids).not.toContain('plus.rejected');
    const refused = r.findings.find((f: { id: string }) => f.id === 'plus.address-refused')!;
    expect(refused.message).toMatch(/refused the bare nosuchuser@example\.test too \(550 5\.1\.1 .*User unknown/);
    expect(refused.fix).not.toMatch(/recipient_delimiter/);
    const area = (id: string) => r.areas.find((a: { area: string }) => a.area === id)!;
    expect(area('sending')).toMatchObject({ status: 'error', causes: expect.arrayContaining(['plus.address-refused']) });
    expect(area('plus').status).toBe('not-tested');
    expect(area('plus').summary).toMatch(/the relay refuses the recipient itself, not plus addressing/);
    expect(r.exitCode).toBe(1);
  });
});
