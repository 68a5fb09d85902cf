/**
 * `send-test --reply-from`: the unattended round trip on the real Postfix + Dovecot stack, with a
 * second domain (remote.test) as the attendee's outside provider. Each client shape goes all the
 * way (invitation delivered intact, reply sent through the attendee's own submission, judged in the
 * gateway mailbox, both mailboxes cleaned); a stack with the recipient delimiter off refuses the
 * plus address, one that strips "+detail" delivers the reply without its token; a reply that never
 * reaches the gateway mailbox is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailboxCount, purgeMailbox, ROUND_TRIP_USERS as U, startRoundTripStack, stopStack, type StackInfo } from '../mailstack/stack.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { roundTripConfig } from './config.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { CLIENT_SHAPES } from '../../src/imip/client-replies.js';

let on: StackInfo;
let off: StackInfo;
let strip: StackInfo;

beforeAll(async () => {
  [on, off, strip] = await Promise.all([
    startRoundTripStack({ base: 14000 }),
    startRoundTripStack({ base: 16000, plus: false }),
    startRoundTripStack({ base: 12000, stripDetail: true }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([on && stopStack(on, { remove: true }), off && stopStack(off, { remove: true }), strip && stopStack(strip, { remove: true })]);
}, 60_000);


function roundTrip(s: StackInfo, extra: string[] = [], o: Parameters<typeof roundTripConfig>[1] = {}) {
  return runCli(
    [
      'send-test',
      '--config', roundTripConfig(s, o),
      '--to', U.attendee.address,
      '--reply-from', `imaps://${U.attendee.address}@${s.host}:${s.ports.imaps}`,
      '--reply-submit', `submission://${U.attendee.address}@${s.host}:${s.ports.smtp}`,
      '--ca-file', s.ca,
      '--state-dir', tempDir('imip-rt-state-'),
      '--timeout', '5',
      ...extra,
    ],
    { env: { IMIP_REPLY_PASSWORD: U.attendee.password } },
  );
}

interface Leg { leg: string; ok: boolean | null; seconds: number | null; verdict: string }

describe('the round trip on a stack with plus addressing', () => {
  for (const client of CLIENT_SHAPES) {
    it(`${client}: every leg passes, the reply is accepted, and both mailboxes are left as they were`, async () => {
      await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
      const r = await roundTrip(on, ['--client', client, '--json', '--wait-reply', '60']);
      expect(r.stderr).toBe('');
      const doc = jsonOf(r);
      expect(doc.findings.filter((f: { severity: string }) => f.severity === 'error')).toEqual([]);
      expect(r.code).toBe(0);
      expect(doc.ok).toBe(true);
      expect(doc.roundTrip).toMatchObject({ client, ok: true, exitCode: 0 });
      expect(doc.roundTrip.legs.map((l: Leg) => [l.leg, l.ok])).toEqual([
        ['sent', true],
        ['delivered', true],
        ['reply-sent', true],
        ['reply-arrived', true],
        ['token', true],
        ['server-action', true],
      ]);
      for (const l of doc.roundTrip.legs.slice(0, 4) as Leg[]) expect(l.seconds).toBeGreaterThanOrEqual(0);
      expect(doc.roundTrip.invitation).toMatchObject({ calendar: 'intact', organizerToken: true, replyToToken: true, rewrittenHeaders: [] });
      expect(doc.reply).toMatchObject({ outcome: 'accepted', serverAction: 'INJECTION_SUBMITTED', token: doc.token });
      expect(doc.roundTrip.cleanup).toMatchObject({ attendee: { removed: 'expunged' }, gateway: { removed: 'expunged' } });
      // If the server had taken the reply first: imip's token is not in its store.
      expect(doc.roundTrip.serverMayTakeIt.serverAction).toBe('UNKNOWN_TOKEN');
      expect(await mailboxCount(on, U.attendee.address)).toBe(0);
      expect(await mailboxCount(on, U.calendar.address)).toBe(0);
      expect(r.stdout).not.toContain(U.attendee.password);
    }, 90_000);
  }

  it('POP3 gateway, --keep-reply: the reply stays, the human output says what the server would log', async () => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.calendar.address)]);
    const r = await roundTrip(on, ['--client', 'outlook', '--keep-reply', '--wait-reply', '60'], { pop: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/round trip: waiting up to 60 s in all, first for the invitation at imaps:\/\/probe@remote\.test@/);
    expect(r.stdout).toMatch(/Round trip as outlook/);
    expect(r.stdout).toMatch(/result +passed in [\d.]+ s \(exit 0\)/);
    expect(r.stdout).toMatch(/reply kept in the gateway mailbox/);
    expect(r.stdout).toMatch(/may take the reply first.*UNKNOWN_TOKEN/);
    expect(await mailboxCount(on, U.calendar.address)).toBe(1);
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
  }, 90_000);

  it('a reply that never reaches the gateway mailbox: bounded; CRITICAL with exit 2 in Nagios mode, imip_up 0 for Prometheus', async () => {
    await Promise.all([purgeMailbox(on, U.attendee.address), purgeMailbox(on, U.other.address)]);
    // The server reads a mailbox that is not the calendar's: the reply goes elsewhere.
    const started = Date.now();
    const nagios = await roundTrip(on, ['--wait-reply', '8', '--format', 'nagios'], { receivingUser: U.other });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^IMIP CRITICAL - /);
    expect(nagios.stdout).toMatch(/send-test\.no-reply/);
    expect(nagios.stdout.trim().split('\n')).toHaveLength(1);
    await purgeMailbox(on, U.calendar.address);
    const prom = await roundTrip(on, ['--wait-reply', '6', '--format', 'prometheus'], { receivingUser: U.other });
    expect(prom.code).toBe(1);
    expect(prom.stdout).toMatch(/^imip_up\{command="send-test"\} 0$/m);
    expect(prom.stdout).toMatch(/^imip_roundtrip_leg_success\{command="send-test",leg="reply-arrived"\} 0$/m);
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
    await purgeMailbox(on, U.calendar.address);
  }, 90_000);
});

describe('the round trip through a relay without plus addressing', () => {
  it('the reply to the plus address is refused: roundtrip.plus-address-rejected; the invitation is removed from the attendee', async () => {
    await Promise.all([purgeMailbox(off, U.attendee.address), purgeMailbox(off, U.calendar.address)]);
    const r = await roundTrip(off, ['--json', '--wait-reply', '30']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.findings.map((f: { id: string }) => f.id)).toContain('roundtrip.plus-address-rejected');
    const legs = Object.fromEntries(doc.roundTrip.legs.map((l: Leg) => [l.leg, l]));
    expect(legs['delivered']).toMatchObject({ ok: true });
    expect(legs['reply-sent']).toMatchObject({ ok: false, verdict: 'plus address refused' });
    expect(legs['reply-arrived']).toMatchObject({ ok: null });
    expect(await mailboxCount(off, U.attendee.address)).toBe(0);
  }, 90_000);
});

describe('the round trip through a relay that strips "+detail"', () => {
  it('the reply arrives with To stripped to the bare address: roundtrip.plus-detail-stripped, token missing, NO_TOKEN', async () => {
    await Promise.all([purgeMailbox(strip, U.attendee.address), purgeMailbox(strip, U.calendar.address)]);
    const r = await roundTrip(strip, ['--json', '--wait-reply', '30', '--client', 'thunderbird']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    const ids = doc.findings.map((f: { id: string }) => f.id);
    expect(ids).toContain('roundtrip.plus-detail-stripped');
    expect(ids).toContain('token.to-bare-address');
    const legs = Object.fromEntries(doc.roundTrip.legs.map((l: Leg) => [l.leg, l]));
    expect(legs['reply-arrived']).toMatchObject({ ok: true });
    expect(legs['token']).toMatchObject({ ok: false, verdict: 'missing' });
    expect(legs['server-action']).toMatchObject({ ok: false, verdict: 'NO_TOKEN' });
    expect(doc.reply).toMatchObject({ outcome: 'token-missing' });
    expect(doc.reply.message.to).toBe(U.calendar.address);
    expect(await mailboxCount(strip, U.calendar.address)).toBe(0);
    expect(await mailboxCount(strip, U.attendee.address)).toBe(0);
  }, 90_000);
});

describe('the attendee account on the command line', () => {
  it('a password in the URL, no password at all, or round-trip flags without --reply-from: exit 2, one line', async () => {
    const withPw = await runCli(['send-test', '--config', roundTripConfig(on), '--to', U.attendee.address, '--reply-from', `imaps://probe:secret@${on.host}`]);
    expect(withPw.code).toBe(2);
    expect(withPw.stderr).toMatch(/passwords never go on the command line/);
    expect(withPw.stderr).not.toContain('secret');
    const none = await runCli(['send-test', '--config', roundTripConfig(on), '--to', U.attendee.address, '--reply-from', `imaps://probe@${on.host}`], { env: { IMIP_REPLY_PASSWORD: undefined } });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/IMIP_REPLY_PASSWORD/);
    const orphan = await runCli(['send-test', '--config', roundTripConfig(on), '--to', U.attendee.address, '--keep-reply']);
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toMatch(/--keep-reply belongs to the round trip/);
  });

  it('a wrong attendee password: nothing is sent, roundtrip.attendee-mailbox-failed, the password never shown', async () => {
    await purgeMailbox(on, U.attendee.address);
    const file = writePlist(tempDir('imip-rt-pw-'), 'x', {});
    const pwFile = `${file}.pw`;
    (await import('node:fs')).writeFileSync(pwFile, 'Wrong-pw-9911\n', { mode: 0o600 });
    const r = await runCli(
      ['send-test', '--config', roundTripConfig(on), '--to', U.attendee.address, '--reply-from', `imaps://${U.attendee.address}@${on.host}:${on.ports.imaps}`, '--reply-password-file', pwFile, '--ca-file', on.ca, '--state-dir', tempDir('imip-rt-state-'), '--json'],
      { env: { IMIP_REPLY_PASSWORD: undefined } },
    );
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.sent).toBeNull();
    expect(doc.findings.map((f: { id: string }) => f.id)).toContain('roundtrip.attendee-mailbox-failed');
    expect(r.stdout).not.toContain('Wrong-pw-9911');
    expect(await mailboxCount(on, U.attendee.address)).toBe(0);
  });
});
