/**
 * Why the server "found a token but didn't recognize it", from the store itself: each cause with
 * its evidence, most specific first. Pure: takes the read store and the message's facts.
 * Sources: 2.x–4.x purge at gateway start (CalendarServer-4.3.2 twistedcaldav/mail.py
 * MailGatewayService.startService → purgeOldTokens; getToken refreshes DATESTAMP, so the age
 * counts from the last invitation for that organizer, attendee and event); 5.0+ migration
 * (twistedcaldav/upgrade.py PostDBImportStep → imip/mailgateway.py migrateTokensToStore).
 */
import type { Finding } from '../report/finding.js';
import { serverAddress, stripMailto } from '../server/address.js';
import type { TokenSnapshot } from './snapshot.js';
import type { ServerStoreInfo, StoreRow } from './types.js';

export interface UnknownTokenFacts {
  token: string;
  /** First To address of the message. */
  to: string;
  /** Raw Date header. */
  date: string | null;
  sendingAddress: string;
  /** The reply calendar's UID and ATTENDEE values, when it parsed. */
  uid: string | null;
  attendees: string[];
}

export interface UnknownTokenContext {
  snapshot: TokenSnapshot | null;
  info: ServerStoreInfo;
  /** 5.0+: rows of a leftover mailgatewaytokens.sqlite. */
  leftover: { path: string; rows: StoreRow[] | null } | null;
  invitationDaysToLive: number;
  now: Date;
}

const DAY_MS = 86_400_000;

const f = (id: string, severity: Finding['severity'], message: string, evidence: Record<string, unknown>, fix: string, path = 'message.headers.To'): Finding => ({
  id,
  severity,
  path,
  message,
  evidence,
  fix,
});

const rowEvidence = (r: StoreRow): Record<string, unknown> => ({ organizer: r.organizer, attendee: r.attendee, uid: r.uid, lastUsed: r.date });

function day(text: string | null): string | null {
  if (!text) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : new Date(t).toISOString().slice(0, 10);
}

/**
 * The causes the store shows without the message: held by several rows (2.x–4.x), a stored
 * token re-cased or cut, only in the unmigrated SQLite file (5.0+). Empty for a known token.
 * `path`: where the token came from (the reply's To header, or `imip tokens TOKEN`).
 */
export function storeCauses(token: string, snapshot: TokenSnapshot, leftover: UnknownTokenContext['leftover'], path = 'message.headers.To'): Finding[] {
  const out: Finding[] = [];
  const lookup = snapshot.lookup(token);
  if (lookup.status === 'ambiguous') {
    out.push(
      f(
        'token.unknown-duplicate',
        'error',
        `Token ${token} is in the store ${lookup.rows.length} times; the gateway recognizes a token only when exactly one row has it, so it answers "didn't recognize it".`,
        { token, rows: lookup.rows.map(rowEvidence) },
        'Stop the mail gateway, delete the extra rows for this token with the sqlite3 tool (keep one), and start it again.',
        path,
      ),
    );
    return out;
  }
  if (lookup.status === 'known') return out;

  for (const near of snapshot.nearMatches(token)) {
    out.push(
      f(
        'token.unknown-altered',
        'error',
        `Token ${token} is the stored token ${near.row.token} ${near.how === 're-cased' ? 'with its letters re-cased' : 'cut short'}: the attendee's mail client changed the reply address, and the server matches tokens exactly.`,
        { token, storedToken: near.row.token, how: near.how, ...rowEvidence(near.row) },
        `Ask the attendee to reply to calendar+${near.row.token}@… exactly as it was in the invitation (some clients ${near.how === 're-cased' ? 'upper-case the address' : 'wrap or cut long addresses'}).`,
        path,
      ),
    );
  }
  const inLeftover = leftover?.rows?.filter((r) => r.token === token) ?? [];
  if (inLeftover.length) {
    out.push(
      f(
        'token.unknown-not-migrated',
        'error',
        `Token ${token} is in the old ${leftover!.path} but not in IMIP_TOKENS: the one-time migration into the database never ran or failed.`,
        { token, leftover: leftover!.path, ...rowEvidence(inLeftover[0]!) },
        'Restart Calendar Server with the file in place so its upgrade step copies the tokens (keep a copy of the file first), and read the error log of that start.',
        path,
      ),
    );
  }
  return out;
}

/** Every cause that fits, most specific first; an unreadable store is itself the cause. */
export function unknownTokenCauses(m: UnknownTokenFacts, ctx: UnknownTokenContext): Finding[] {
  const { snapshot, info } = ctx;
  if (!snapshot) {
    return [
      f(
        'token-store.unreadable',
        'warning',
        `Whether the server knows token ${m.token} cannot be told: its token store could not be read (${info.error ?? 'not available'}).`,
        { token: m.token, location: info.location, how: info.how },
        info.fix ?? 'Give --token-store PATH|URL.',
      ),
    ];
  }
  if (snapshot.lookup(m.token).status !== 'unknown') return storeCauses(m.token, snapshot, ctx.leftover);
  const out = storeCauses(m.token, snapshot, ctx.leftover);
  const server = serverAddress(m.sendingAddress);
  const toAt = m.to.lastIndexOf('@');
  const toDomain = toAt >= 0 ? m.to.slice(toAt + 1).toLowerCase() : '';
  const toLocal = (toAt >= 0 ? m.to.slice(0, toAt) : m.to).split('+')[0]!.toLowerCase();
  if (server && (toDomain !== server.domain.toLowerCase() || toLocal !== server.local.toLowerCase())) {
    out.push(
      f(
        'token.unknown-other-server',
        'warning',
        `The reply is addressed to ${m.to}, not to ${server.local}+…@${server.domain} (Sending.Address): it answers an invitation from another server or pod that delivers into this mailbox.`,
        { to: m.to, sendingAddress: m.sendingAddress },
        'Give each server (or pod) its own receiving mailbox, or route each plus address only to the server that issued it.',
      ),
    );
  }
  if (out.length) return out;

  const { oldest } = snapshot.span();
  const sent = day(m.date);
  const sameEvent = m.uid ? snapshot.byUid(m.uid) : [];
  const attendeeKeys = new Set(m.attendees.map((a) => `mailto:${stripMailto(a).toLowerCase()}`));
  const sameAttendee = sameEvent.filter((r) => attendeeKeys.has(r.attendee.toLowerCase()));
  const evidenceBase = { token: m.token, messageDate: m.date, eventUid: m.uid, storeRows: snapshot.rows.length, oldestInStore: oldest };
  const purges = snapshot.rules.purgeAtGatewayStart;
  const ageDays = sent ? Math.floor((ctx.now.getTime() - Date.parse(`${sent}T00:00:00Z`)) / DAY_MS) : null;

  if (snapshot.rows.length === 0 || (oldest !== null && sent !== null && oldest.slice(0, 10) > sent && !purges)) {
    out.push(
      f(
        'token.unknown-store-reset',
        'error',
        snapshot.rows.length === 0
          ? `The token store is empty: it was reset or recreated after the invitation with token ${m.token} went out, so no earlier reply can be recognized.`
          : `Every token in the store was last used after ${sent}, when this reply was written: the store was reset or recreated after the invitation went out.`,
        evidenceBase,
        'Replies to invitations sent before the reset cannot be matched: ask the organizer to send the invitation again (a new token is issued), or restore the store from a backup.',
      ),
    );
    return out;
  }
  if (purges) {
    const older = ageDays !== null && ageDays > ctx.invitationDaysToLive;
    const reissued = sameAttendee.filter((r) => r.token !== m.token);
    if (older || reissued.length || !sameEvent.length) {
      out.push(
        f(
          'token.unknown-purged',
          'error',
          `Token ${m.token} is not in the store. The gateway deletes, each time it starts, every token not used by an invitation for InvitationDaysToLive (${ctx.invitationDaysToLive}) days, counted from the last invitation for that organizer, attendee and event${older ? `; this reply was written ${ageDays} days ago` : ''}${reissued.length ? `; the store now holds another token (${reissued[0]!.token}) for this attendee and event, issued by a later invitation` : ''}.`,
          { ...evidenceBase, invitationDaysToLive: ctx.invitationDaysToLive, messageAgeDays: ageDays, reissued: reissued.map(rowEvidence) },
          'Ask the organizer to send the invitation again (the reply to it will carry a current token); raise InvitationDaysToLive if attendees answer later than that.',
        ),
      );
      return out;
    }
  }
  if (sameAttendee.length) {
    out.push(
      f(
        'token.unknown-store-reset',
        'error',
        `The store holds another token (${sameAttendee[0]!.token}) for this attendee and event, not ${m.token}: the store was reset or the token recreated after this invitation went out.`,
        { ...evidenceBase, current: sameAttendee.map(rowEvidence) },
        'Ask the organizer to send the invitation again; the attendee should answer the newest one.',
      ),
    );
    return out;
  }
  out.push(
    f(
      'token.unknown-other-server',
      'warning',
      `Token ${m.token} is not in this server's store${m.uid ? ` and no token here belongs to event ${m.uid}` : ''}: the reply most likely answers an invitation from another server or pod (or a store that was since replaced).`,
      evidenceBase,
      'Check which server sent the invitation (its Message-ID and the reply\'s References); give each server its own receiving mailbox.',
    ),
  );
  return out;
}
