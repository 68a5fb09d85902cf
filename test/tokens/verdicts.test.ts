/**
 * The server's verdict for real replies once its token store is read: table-driven over 2.5 and
 * 4.3 (SQLite `mailgatewaytokens.sqlite` in DataRoot) and 9.2 (PostgreSQL IMIP_TOKENS), with a
 * mailbox on the real mail stack holding replies whose tokens are known, unknown, old (unknown and
 * older than 72 hours) and known but answered by another attendee. `poll --once` must give the
 * server's action for each, and look the store up once per cycle.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PollReport } from '../../src/poll/cycle.js';
import { startInboxDouble } from '../doubles/inbox-server.js';
import { mailboxCount, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { tempDir } from '../helpers/plist.js';
import { createImipDatabase, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { writeSqliteStore, type Row } from '../helpers/token-store.js';
import { pollCore, startOwnStack, writePollPlist } from '../poll/helpers.js';

const USER = { address: 'tokenverdict@example.test', password: 'TokVerdict-pw-5512' };
const T = {
  known: '0b6f3a1e-2c4d-4e8f-9a1b-3c5d7e9f1a01',
  mismatch: '0b6f3a1e-2c4d-4e8f-9a1b-3c5d7e9f1a02',
  unknown: '0b6f3a1e-2c4d-4e8f-9a1b-3c5d7e9f1a03',
  old: '0b6f3a1e-2c4d-4e8f-9a1b-3c5d7e9f1a04',
  duplicate: '0b6f3a1e-2c4d-4e8f-9a1b-3c5d7e9f1a05',
};
const NOW = new Date();
const HOUR = 3_600_000;

function rows(organizer: string): Row[] {
  const day = new Date(NOW.getTime() - 2 * 86_400_000).toISOString();
  const r = (token: string, attendee: string, uid: string): Row => ({ token, organizer, attendee, uid, date: day });
  return [
    r(T.known, 'mailto:attendee@remote.test', 'EV-KNOWN'),
    r(T.mismatch, 'mailto:invited@remote.test', 'EV-MISMATCH'),
    // Two rows with one token (the 2.x-4.x store has no uniqueness constraint; 5.0+ allows it across events).
    r(T.duplicate, 'mailto:attendee@remote.test', 'EV-DUP-1'),
    r(T.duplicate, 'mailto:attendee@remote.test', 'EV-DUP-2'),
  ];
}

function reply(id: string, token: string, attendee: string, uid: string, date: Date): string {
  return [
    `Message-ID: <${id}@remote.test>`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `From: Someone <${attendee}>`,
    `To: calendar+${token}@example.test`,
    `Subject: Accepted: ${id}`,
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
    '',
    'BEGIN:VCALENDAR',
    'PRODID:-//Example//Test//EN',
    'VERSION:2.0',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `ORGANIZER:mailto:calendar+${token}@example.test`,
    `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${attendee}`,
    `UID:${uid}`,
    'DTSTAMP:20260302T100000Z',
    'DTSTART:20260305T100000Z',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

const MESSAGES = [
  { name: 'known', raw: () => reply('known', T.known, 'attendee@remote.test', 'EV-KNOWN', new Date(NOW.getTime() - HOUR)) },
  { name: 'mismatch', raw: () => reply('mismatch', T.mismatch, 'alias@remote.test', 'EV-MISMATCH', new Date(NOW.getTime() - HOUR)) },
  { name: 'unknown', raw: () => reply('unknown', T.unknown, 'attendee@remote.test', 'EV-GONE', new Date(NOW.getTime() - HOUR)) },
  { name: 'old', raw: () => reply('old', T.old, 'attendee@remote.test', 'EV-OLD', new Date(NOW.getTime() - 5 * 24 * HOUR)) },
  { name: 'duplicate', raw: () => reply('duplicate', T.duplicate, 'attendee@remote.test', 'EV-DUP-1', new Date(NOW.getTime() - HOUR)) },
];

interface Expect {
  action: string;
  token: 'known' | 'unknown';
  findings: string[];
}
const E = (action: string, token: 'known' | 'unknown', findings: string[] = []): Expect => ({ action, token, findings });

/** The server's action per release, from the tagged sources (see src/server/token-store.ts). */
const TABLE: Record<string, Record<string, Expect>> = {
  '2.5': {
    known: E('INJECTION_SUBMITTED', 'known'),
    mismatch: E('INJECTION_SUBMITTED', 'known', ['reply.attendee-mismatch']),
    unknown: E('UNKNOWN_TOKEN', 'unknown'),
    old: E('UNKNOWN_TOKEN', 'unknown'),
    // lookupByToken: "if len(results) != 1: return None".
    duplicate: E('UNKNOWN_TOKEN', 'unknown'),
  },
  '4.3': {
    known: E('INJECTION_SUBMITTED', 'known'),
    mismatch: E('INJECTION_SUBMITTED', 'known', ['reply.attendee-mismatch']),
    unknown: E('UNKNOWN_TOKEN', 'unknown'),
    old: E('UNKNOWN_TOKEN', 'unknown'),
    duplicate: E('UNKNOWN_TOKEN', 'unknown'),
  },
  '9.2': {
    known: E('INJECTION_SUBMITTED', 'known'),
    mismatch: E('INJECTION_SUBMITTED', 'known', ['reply.attendee-mismatch']),
    unknown: E('UNKNOWN_TOKEN', 'unknown'),
    // 7.0+: an unknown token in a mail older than 72 hours.
    old: E('UNKNOWN_TOKEN_OLD', 'unknown'),
    // MailReceiver.processReply takes records[0].
    duplicate: E('INJECTION_SUBMITTED', 'known'),
  },
};

let stack: StackInfo;
let pg: TestPostgres;

beforeAll(async () => {
  [stack, pg] = await Promise.all([startOwnStack([USER], 27950, 8), startPostgres()]);
  await createImipDatabase(pg, 'caldav92', rows('urn:x-uid:0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0'));
}, 120_000);
afterAll(async () => {
  await pg?.stop();
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
});
beforeEach(async () => {
  await purgeMailbox(stack, USER.address);
});

/** The config each release reads the store from: DataRoot (SQLite) or the server's own PostgreSQL. */
async function configFor(release: string): Promise<string> {
  if (release !== '9.2') {
    const dataRoot = tempDir('imip-data-');
    await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), rows('mailto:organizer@example.test'));
    return writePollPlist(stack, { version: release, protocol: 'imap', user: USER, changes: [['DataRoot', dataRoot]] });
  }
  // DBType empty: the server's own PostgreSQL, its socket in Postgres.SocketDirectory (default port 5432).
  const dir = tempDir('imip-sock-');
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(pg.socketDir, `.s.PGSQL.${pg.port}`), join(dir, '.s.PGSQL.5432'));
  return writePollPlist(stack, {
    version: release,
    protocol: 'imap',
    user: USER,
    changes: [
      ['DBType', ''],
      ['Postgres.SocketDirectory', dir],
      ['Postgres.DatabaseName', 'caldav92'],
    ],
  });
}

describe('poll --once with the server\'s token store', () => {
  it.each(Object.keys(TABLE))('%s: every reply gets the server\'s exact action and the token\'s row', async (release) => {
    await seedMailbox(stack, USER.address, MESSAGES.map((m) => m.raw()));
    const plist = await configFor(release);
    const report: PollReport = await pollCore(plist, { version: release, caFile: stack.ca, now: NOW, serverStore: {} });
    expect(report.error).toBeUndefined();
    const ts = report.tokenStore as Extract<PollReport['tokenStore'], { server: unknown }>;
    expect(ts.server).toMatchObject({ readable: true, rows: 4, kind: release === '9.2' ? 'postgres' : 'sqlite', table: release === '9.2' ? 'IMIP_TOKENS' : 'TOKENS' });
    const got = Object.fromEntries(
      report.messages.map((m, i) => [MESSAGES[i]!.name, { action: m.serverAction, token: m.tokenStatus, findings: m.findings.map((f) => f.id) }]),
    );
    expect(got).toEqual(TABLE[release]);
    const known = report.messages[0]!;
    expect(known.tokenRecord).toMatchObject({ source: 'server', attendee: 'mailto:attendee@remote.test', uid: 'EV-KNOWN' });
    expect(known.tokenRecord!.organizer).toBe(release === '9.2' ? 'urn:x-uid:0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0' : 'mailto:organizer@example.test');
    // The attendee-mismatch rewrite: 3.0+ add the token's attendee with SCHEDULE-STATUS 5.1.
    const mismatch = report.messages[1]!.findings.find((f) => f.id === 'reply.attendee-mismatch')!;
    if (release !== '2.5') expect(mismatch.message).toContain('5.1');
    expect(mismatch.evidence).toMatchObject({ tokenAttendee: 'mailto:invited@remote.test' });
    expect(JSON.stringify(report)).not.toContain(pg.password);
  });

  it('without a readable store the tokens stay "unchecked" and the report says why', async () => {
    await seedMailbox(stack, USER.address, [MESSAGES[0]!.raw()]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER, changes: [['DataRoot', tempDir('imip-empty-')]] });
    const report = await pollCore(plist, { version: '4.3', caFile: stack.ca, now: NOW, serverStore: {} });
    const ts = report.tokenStore as Extract<PollReport['tokenStore'], { server: unknown }>;
    expect(ts.server.readable).toBe(false);
    expect(ts.server.error).toMatch(/no token store at .*mailgatewaytokens\.sqlite/);
    expect(ts.findings.map((f) => f.id)).toEqual(['token-store.unreadable']);
    expect(report.messages[0]!.tokenStatus).toBe('unchecked');
  });
});

describe('poll --once --apply on 4.3 with the SQLite store', () => {
  it("injects a real user's reply with the organizer and attendee from the store, and keeps the unknown one", async () => {
    // A real invitation from alice (a user of this server), not one send-test recorded: no state dir records.
    const REAL = '5e7d9c1b-3a2f-4e6d-8c0b-9a8f7e6d5c41';
    const dataRoot = tempDir('imip-data-');
    await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), [
      { token: REAL, organizer: 'urn:uuid:A11CE000-0000-4000-8000-00000000A11C', attendee: 'mailto:guest@remote.test', uid: 'EV-REAL', date: NOW.toISOString() },
    ]);
    const double = await startInboxDouble({ line: '3.x-4.x', secret: 'gateway-secret-3' });
    try {
      await seedMailbox(stack, USER.address, [
        reply('real', REAL, 'guest@remote.test', 'EV-REAL', new Date(NOW.getTime() - HOUR)),
        reply('stranger', T.unknown, 'guest@remote.test', 'EV-OTHER', new Date(NOW.getTime() - HOUR)),
      ]);
      const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER, changes: [['DataRoot', dataRoot]] });
      const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, now: NOW, apply: true, injectUrl: double.url, stateDir: tempDir('imip-state-'), serverStore: {} });
      expect(r.error).toBeUndefined();
      expect(r.messages.map((m) => [m.messageId, m.tokenStatus, m.serverAction, m.apply?.status, m.apply?.deleted])).toEqual([
        ['<real@remote.test>', 'known', 'INJECTION_SUBMITTED', 'injected', true],
        ['<stranger@remote.test>', 'unknown', 'UNKNOWN_TOKEN', 'skipped', false],
      ]);
      const posts = double.accepted();
      expect(posts).toHaveLength(1);
      // As the 4.x gateway: Originator = the token's attendee, Recipient = the token's organizer, ORGANIZER rewritten.
      expect(posts[0]!.headers).toMatchObject({ originator: 'mailto:guest@remote.test', recipient: 'urn:uuid:A11CE000-0000-4000-8000-00000000A11C' });
      expect(posts[0]!.body.replace(/\r\n[ \t]/g, '')).toMatch(/^ORGANIZER(;[^:]*)?:urn:uuid:A11CE000-0000-4000-8000-00000000A11C\r?$/m);
      expect(await mailboxCount(stack, USER.address)).toBe(1);
    } finally {
      await double.close();
    }
  });
});
