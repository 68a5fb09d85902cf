/**
 * The rows of one read, indexed: the server's lookup (exactly one row on 2.x–4.x, the first of
 * any on 5.0+, per `server/token-store.ts`), searches by attendee, organizer and event UID, and
 * the statistics `imip tokens` prints (ages, duplicates, the next purge on 2.x–4.x). Pure.
 */
import type { TokenStoreRules } from '../server/token-store.js';
import type { StoreRow } from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export type LookupResult =
  | { status: 'known'; row: StoreRow; rows: StoreRow[] }
  /** 2.x–4.x: more than one row has the token, so the server finds none. */
  | { status: 'ambiguous'; rows: StoreRow[] }
  | { status: 'unknown'; rows: [] };

/** `mailto:` + lower-case address, as the server stores attendees (3.2+ `lowercase()`). */
export function attendeeKey(addr: string): string {
  const a = addr.trim();
  return (/^mailto:/i.test(a) ? `mailto:${a.slice(7)}` : `mailto:${a}`).toLowerCase();
}

/** Age in whole days of a row's date at `now` (null without a date). */
export function ageDays(row: StoreRow, now: Date): number | null {
  if (!row.date) return null;
  const t = Date.parse(row.date.length === 10 ? `${row.date}T00:00:00Z` : row.date);
  return Number.isNaN(t) ? null : Math.floor((now.getTime() - t) / DAY_MS);
}

export interface PurgeProjection {
  /** InvitationDaysToLive. */
  days: number;
  /** Rows with a date before this day are deleted at the next gateway start. */
  before: string;
  rows: number;
  tokens: number;
}

export interface StoreStats {
  rows: number;
  tokens: number;
  /** Tokens held by more than one row (2.x–4.x: the server recognizes none of them). */
  duplicateTokens: number;
  organizers: number;
  attendees: number;
  events: number;
  oldest: string | null;
  newest: string | null;
  /** Rows per age bucket, by the last time an invitation used the token. */
  ages: Array<{ bucket: string; rows: number }>;
  /** 2.x–4.x only. */
  nextPurge: PurgeProjection | null;
}

const BUCKETS: Array<{ bucket: string; max: number }> = [
  { bucket: 'under 1 day', max: 0 },
  { bucket: '1-7 days', max: 7 },
  { bucket: '8-30 days', max: 30 },
  { bucket: '31-90 days', max: 90 },
  { bucket: '91-365 days', max: 365 },
  { bucket: 'over 1 year', max: Infinity },
];

export class TokenSnapshot {
  private readonly byToken = new Map<string, StoreRow[]>();

  constructor(
    readonly rows: readonly StoreRow[],
    readonly rules: TokenStoreRules,
  ) {
    for (const r of rows) {
      const list = this.byToken.get(r.token);
      if (list) list.push(r);
      else this.byToken.set(r.token, [r]);
    }
  }

  /** Tokens held by more than one row, and one of them. */
  duplicates(): { count: number; example: string | null } {
    let count = 0;
    let example: string | null = null;
    for (const [t, list] of this.byToken) {
      if (list.length > 1) {
        count++;
        example ??= t;
      }
    }
    return { count, example };
  }

  /** The server's lookup: exact string, no case folding (`lookupByToken` / `imipLookupByToken`). */
  lookup(token: string): LookupResult {
    const rows = this.byToken.get(token);
    if (!rows?.length) return { status: 'unknown', rows: [] };
    if (this.rules.lookup === 'exactly-one' && rows.length !== 1) return { status: 'ambiguous', rows };
    return { status: 'known', row: rows[0]!, rows };
  }

  /** Tokens equal ignoring case, or of which `token` is a cut (prefix/suffix): what a client may have done to it. */
  nearMatches(token: string): Array<{ row: StoreRow; how: 're-cased' | 'cut' }> {
    const out: Array<{ row: StoreRow; how: 're-cased' | 'cut' }> = [];
    const lower = token.toLowerCase();
    if (lower.length < 8) return out;
    for (const [t, rows] of this.byToken) {
      if (t === token) continue;
      const tl = t.toLowerCase();
      if (tl === lower) out.push({ row: rows[0]!, how: 're-cased' });
      else if (tl.startsWith(lower) || tl.endsWith(lower)) out.push({ row: rows[0]!, how: 'cut' });
      if (out.length >= 5) break;
    }
    return out;
  }

  byAttendee(addr: string): StoreRow[] {
    const key = attendeeKey(addr);
    return this.rows.filter((r) => r.attendee.toLowerCase() === key);
  }

  byOrganizer(cua: string): StoreRow[] {
    const c = cua.trim().toLowerCase();
    const alt = c.startsWith('mailto:') ? c : `mailto:${c}`;
    return this.rows.filter((r) => {
      const o = r.organizer.toLowerCase();
      return o === c || o === alt;
    });
  }

  byUid(uid: string): StoreRow[] {
    return this.rows.filter((r) => r.uid === uid);
  }

  /** The first and last dates in the store, or null when empty. */
  span(): { oldest: string | null; newest: string | null } {
    let oldest: string | null = null;
    let newest: string | null = null;
    for (const r of this.rows) {
      if (!r.date) continue;
      if (oldest === null || r.date < oldest) oldest = r.date;
      if (newest === null || r.date > newest) newest = r.date;
    }
    return { oldest, newest };
  }

  /** 2.x–4.x: what `purgeOldTokens(today − days)` deletes when the gateway next starts. */
  purgeProjection(days: number, now: Date): PurgeProjection | null {
    if (!this.rules.purgeAtGatewayStart) return null;
    const before = new Date(now.getTime() - days * DAY_MS).toISOString().slice(0, 10);
    const doomed = this.rows.filter((r) => r.date !== null && r.date.slice(0, 10) < before);
    return { days, before, rows: doomed.length, tokens: new Set(doomed.map((r) => r.token)).size };
  }

  /** Whether the next gateway start would delete this row (2.x–4.x). */
  purgedNextStart(row: StoreRow, days: number, now: Date): boolean {
    const p = this.purgeProjection(days, now);
    return p !== null && row.date !== null && row.date.slice(0, 10) < p.before;
  }

  stats(now: Date, invitationDaysToLive: number): StoreStats {
    const ages = BUCKETS.map((b) => ({ bucket: b.bucket, rows: 0 }));
    let undated = 0;
    for (const r of this.rows) {
      const a = ageDays(r, now);
      if (a === null) {
        undated++;
        continue;
      }
      const i = BUCKETS.findIndex((b) => a <= b.max);
      ages[i]!.rows++;
    }
    if (undated) ages.push({ bucket: 'no date', rows: undated });
    const { oldest, newest } = this.span();
    return {
      rows: this.rows.length,
      tokens: this.byToken.size,
      duplicateTokens: [...this.byToken.values()].filter((l) => l.length > 1).length,
      organizers: new Set(this.rows.map((r) => r.organizer)).size,
      attendees: new Set(this.rows.map((r) => r.attendee)).size,
      events: new Set(this.rows.map((r) => r.uid)).size,
      oldest,
      newest,
      ages,
      nextPurge: this.purgeProjection(invitationDaysToLive, now),
    };
  }
}
