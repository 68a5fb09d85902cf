/**
 * "found a token but didn't recognize it": each cause the store can show, with its evidence
 * (pure, over snapshots built as a read store would give them), and `diagnose` naming one from a
 * saved reply and a real SQLite store.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tokenStoreRules } from '../../src/server/token-store.js';
import { parseServerVersion } from '../../src/server/release.js';
import { TokenSnapshot } from '../../src/tokens/snapshot.js';
import type { ServerStoreInfo, StoreRow } from '../../src/tokens/types.js';
import { unknownTokenCauses, type UnknownTokenFacts } from '../../src/tokens/unknown-causes.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';
import { writeSqliteStore } from '../helpers/token-store.js';
import { writeFileSync } from 'node:fs';

const NOW = new Date('2026-06-01T12:00:00Z');
const TOKEN = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const OTHER = '7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e';
const row = (token: string, uid: string, date: string, attendee = 'mailto:guest@remote.test'): StoreRow => ({ token, organizer: 'mailto:boss@example.test', attendee, uid, date });
const info: ServerStoreInfo = { kind: 'sqlite', location: '/x', how: 'test', table: 'TOKENS', lookupRule: '', readable: true, rows: 0 };

function causes(release: string, rows: StoreRow[], facts: Partial<UnknownTokenFacts> = {}, leftover: StoreRow[] | null = null) {
  const snapshot = new TokenSnapshot(rows, tokenStoreRules(parseServerVersion(release)));
  const f: UnknownTokenFacts = {
    token: TOKEN,
    to: `calendar+${TOKEN}@example.test`,
    date: 'Mon, 25 May 2026 10:00:00 +0000',
    sendingAddress: 'Calendar <calendar@example.test>',
    uid: 'EV-1',
    attendees: ['mailto:guest@remote.test'],
    ...facts,
  };
  return unknownTokenCauses(f, { snapshot, info, leftover: leftover ? { path: '/data/mailgatewaytokens.sqlite', rows: leftover } : null, invitationDaysToLive: 90, now: NOW });
}
const ids = (fs: Array<{ id: string }>) => fs.map((f) => f.id);

describe('unknownTokenCauses', () => {
  it('a token re-cased or cut by the client: the stored token and its event', () => {
    const rows = [row(TOKEN, 'EV-1', '2026-05-20')];
    const upper = causes('4.3', rows, { token: TOKEN.toUpperCase() });
    expect(ids(upper)).toEqual(['token.unknown-altered']);
    expect(upper[0]!.evidence).toMatchObject({ storedToken: TOKEN, how: 're-cased', uid: 'EV-1' });
    expect(causes('9.2', rows, { token: TOKEN.slice(0, 30) })[0]!.evidence).toMatchObject({ how: 'cut' });
  });

  it('2.x-4.x: held twice, so the gateway finds no single row', () => {
    const c = causes('2.5', [row(TOKEN, 'EV-1', '2026-05-20'), row(TOKEN, 'EV-2', '2026-05-21')]);
    expect(ids(c)).toEqual(['token.unknown-duplicate']);
  });

  it('2.x-4.x: purged after InvitationDaysToLive, counted from the last invitation; a later invitation issued another token', () => {
    const old = causes('4.3', [row(OTHER, 'EV-9', '2026-05-30')], { date: 'Mon, 2 Feb 2026 10:00:00 +0000' });
    expect(ids(old)).toEqual(['token.unknown-purged']);
    expect(old[0]!.evidence).toMatchObject({ invitationDaysToLive: 90, messageAgeDays: 119 });
    const reissued = causes('4.3', [row(OTHER, 'EV-1', '2026-05-30')]);
    expect(ids(reissued)).toEqual(['token.unknown-purged']);
    expect(reissued[0]!.message).toContain(`another token (${OTHER})`);
  });

  it('5.0+: the store was reset (empty, or every token newer than the reply), or holds another token for the event', () => {
    expect(ids(causes('9.2', []))).toEqual(['token.unknown-store-reset']);
    expect(ids(causes('9.2', [row(OTHER, 'EV-9', '2026-05-30T00:00:00.000Z')]))).toEqual(['token.unknown-store-reset']);
    expect(ids(causes('9.2', [row(OTHER, 'EV-1', '2026-05-01T00:00:00.000Z')]))).toEqual(['token.unknown-store-reset']);
  });

  it('5.0+: only in the mailgatewaytokens.sqlite that was never migrated', () => {
    const c = causes('9.2', [row(OTHER, 'EV-9', '2026-01-01T00:00:00.000Z')], {}, [row(TOKEN, 'EV-1', '2025-12-01')]);
    expect(ids(c)).toEqual(['token.unknown-not-migrated']);
    expect(c[0]!.evidence).toMatchObject({ leftover: '/data/mailgatewaytokens.sqlite', uid: 'EV-1' });
  });

  it('another server or pod: another address, or an event this store never saw', () => {
    const addr = causes('9.2', [row(OTHER, 'EV-9', '2026-01-01T00:00:00.000Z')], { to: `calendar+${TOKEN}@pod2.example.test` });
    expect(ids(addr)).toEqual(['token.unknown-other-server']);
    expect(addr[0]!.evidence).toMatchObject({ to: `calendar+${TOKEN}@pod2.example.test` });
    expect(ids(causes('9.2', [row(OTHER, 'EV-9', '2026-01-01T00:00:00.000Z')]))).toEqual(['token.unknown-other-server']);
  });

  it('an unreadable store is itself the cause, with its fix', () => {
    const c = unknownTokenCauses(
      { token: TOKEN, to: 'x', date: null, sendingAddress: 'calendar@example.test', uid: null, attendees: [] },
      { snapshot: null, info: { ...info, readable: false, error: 'permission denied on the PostgreSQL socket /run/x/.s.PGSQL.5432', fix: 'run as root' }, leftover: null, invitationDaysToLive: 90, now: NOW },
    );
    expect(c).toMatchObject([{ id: 'token-store.unreadable', fix: 'run as root' }]);
    expect(c[0]!.message).toContain('permission denied on the PostgreSQL socket');
  });
});

describe('imip diagnose with the token store', () => {
  it('names why a saved reply\'s token is not recognized, with the evidence (4.3, SQLite)', async () => {
    const dataRoot = tempDir('imip-dr-');
    await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), [{ ...row(TOKEN, 'EV-1', ''), date: new Date().toISOString() }]);
    const cfg = writePlist(tempDir(), 'caldavd.plist', withChange(baseConfig('4.3'), 'DataRoot', dataRoot));
    const eml = join(tempDir(), 'reply.eml');
    writeFileSync(
      eml,
      [
        'Message-ID: <recased@remote.test>',
        'Date: Mon, 1 Jun 2026 10:00:00 +0000',
        'From: guest@remote.test',
        `To: CALENDAR+${TOKEN.toUpperCase()}@EXAMPLE.TEST`,
        'Subject: Accepted',
        'MIME-Version: 1.0',
        'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
        '',
        'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:EV-1\r\nDTSTAMP:20260601T100000Z\r\nORGANIZER:mailto:calendar+x@example.test\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:guest@remote.test\r\nEND:VEVENT\r\nEND:VCALENDAR',
        '',
      ].join('\r\n'),
    );
    const r = await runCli(['diagnose', '--config', cfg, '--server-version', '4.3', '--message', eml, '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    const f = doc.findings.find((x: { id: string }) => x.id === 'token.unknown-altered');
    expect(f).toMatchObject({ area: 'replies', evidence: { storedToken: TOKEN, how: 're-cased', message: eml } });
    expect(doc.messages[0]).toMatchObject({ serverAction: 'UNKNOWN_TOKEN', causes: expect.arrayContaining(['token.unknown-altered']) });
  });
});
