/**
 * `imip tokens`: what a token maps to and whether the server accepts it today, the tokens of an
 * attendee, organizer or event, or the store's statistics. Pure: builds the report from a read
 * store; `render.ts` prints it, `--json` is this object.
 */
import type { Finding } from '../report/finding.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import type { StoreResult } from './load.js';
import { ageDays, type StoreStats } from './snapshot.js';
import type { ServerStoreInfo, StoreRow } from './types.js';
import { noMatchFinding, unknownTokenFinding } from './findings.js';
import { storeCauses } from './unknown-causes.js';

export interface TokensQuery {
  token?: string;
  attendee?: string;
  organizer?: string;
  uid?: string;
}

export interface RowOut {
  token: string;
  organizer: string;
  attendee: string;
  uid: string;
  /** Last time an invitation used the token. */
  lastUsed: string | null;
  ageDays: number | null;
  /** 2.x–4.x: the next gateway start deletes this row. */
  purgedAtNextGatewayStart?: boolean;
  /** 2.x–4.x: how many rows hold this token, when more than one (the server then does not recognize it). */
  heldByRows?: number;
}

export interface TokenVerdict {
  token: string;
  status: 'known' | 'ambiguous' | 'unknown';
  /** Would the server recognize a reply carrying this token today. */
  acceptedToday: boolean;
  /** The server's action for a reply with a calendar carrying this token. */
  serverAction: 'INJECTION_SUBMITTED' | 'UNKNOWN_TOKEN';
  explanation: string;
  rows: RowOut[];
  /** Stored tokens equal ignoring case, or of which this one is a cut. */
  nearMatches: Array<RowOut & { how: 're-cased' | 'cut' }>;
}

export interface TokensReport {
  command: 'tokens';
  mode: 'token' | 'list' | 'stats';
  store: ServerStoreInfo;
  query: TokensQuery;
  token?: TokenVerdict;
  rows?: RowOut[];
  stats?: StoreStats & { invitationDaysToLive: number };
  findings: Finding[];
}

function out(r: StoreRow, store: StoreResult, now: Date): RowOut {
  const row: RowOut = { token: r.token, organizer: r.organizer, attendee: r.attendee, uid: r.uid, lastUsed: r.date, ageDays: ageDays(r, now) };
  if (store.rules.purgeAtGatewayStart && store.snapshot) row.purgedAtNextGatewayStart = store.snapshot.purgedNextStart(r, store.invitationDaysToLive, now);
  // 2.x–4.x recognize a token only when exactly one row holds it (the lookup's own rule).
  const held = store.snapshot?.lookup(r.token);
  if (held?.status === 'ambiguous') row.heldByRows = held.rows.length;
  return row;
}

/** The explanation of a token no row holds; the finding token.unknown says the same. */
const UNKNOWN_TEXT = 'The store has no row with this exact token: the server logs "found a token but didn\'t recognize it" and the reply is not applied.';
/** 5.0+: the token is only in the leftover SQLite file; the finding token.unknown-not-migrated says the same. */
const unmigratedText = (path: string): string => ` The token is in the old ${path}, which was never migrated into IMIP_TOKENS: the migration at upgrade never ran or failed.`;

/**
 * The explanation less what a finding of the report says too, for human output, where the
 * findings follow it: each thing is said once, in the finding. `--json` keeps the whole explanation.
 */
export function explanationBeside(t: TokenVerdict, findings: readonly Finding[]): string {
  const said = (id: string): Finding | undefined => findings.find((f) => f.id === id);
  if (t.status === 'ambiguous' && said('token.unknown-duplicate')) return '';
  let text = t.explanation;
  if (said('token.unknown')) text = text.replace(UNKNOWN_TEXT, '');
  const unmigrated = said('token.unknown-not-migrated');
  if (unmigrated && typeof unmigrated.evidence.leftover === 'string') text = text.replace(unmigratedText(unmigrated.evidence.leftover), '');
  return text.trim();
}

function tokenVerdict(token: string, store: StoreResult, version: ServerVersion, now: Date): TokenVerdict {
  const snap = store.snapshot!;
  const res = snap.lookup(token);
  const rows = res.rows.map((r) => out(r, store, now));
  const near = res.status === 'known' ? [] : snap.nearMatches(token).map((n) => ({ ...out(n.row, store, now), how: n.how }));
  const oldRule = featuresOf(version).unknownTokenAge ? ' From 7.0 a reply carrying an unknown token is deleted once it is older than 72 hours (UNKNOWN_TOKEN_OLD).' : '';
  if (res.status === 'known') {
    const purge = rows[0]?.purgedAtNextGatewayStart
      ? ` It was last used by an invitation more than InvitationDaysToLive (${store.invitationDaysToLive}) days ago, so the next start of the mail gateway deletes it.`
      : '';
    return {
      token,
      status: 'known',
      acceptedToday: true,
      serverAction: 'INJECTION_SUBMITTED',
      explanation: `The server recognizes this token today: a reply carrying it is injected for organizer ${res.row.organizer} as attendee ${res.row.attendee} (event ${res.row.uid}).${purge}`,
      rows,
      nearMatches: near,
    };
  }
  if (res.status === 'ambiguous') {
    return {
      token,
      status: 'ambiguous',
      acceptedToday: false,
      serverAction: 'UNKNOWN_TOKEN',
      explanation: `${res.rows.length} rows hold this token; the gateway recognizes a token only when exactly one row has it, so it logs "found a token but didn't recognize it".`,
      rows,
      nearMatches: near,
    };
  }
  // 5.0+: a token only in the leftover SQLite file is one the migration did not copy.
  const unmigrated = store.leftover?.rows?.some((r) => r.token === token) ? unmigratedText(store.leftover.path) : '';
  return {
    token,
    status: 'unknown',
    acceptedToday: false,
    serverAction: 'UNKNOWN_TOKEN',
    explanation: `${UNKNOWN_TEXT}${unmigrated}${oldRule}${near.length ? ' A stored token differs only by case or length: see the near matches.' : ''}`,
    rows,
    nearMatches: near,
  };
}

/** The report; `store.snapshot` must be present (the caller exits 2 otherwise). */
export function tokensReport(q: TokensQuery, store: StoreResult, version: ServerVersion, now: Date): TokensReport {
  const base = { command: 'tokens' as const, store: store.info, query: q, findings: store.findings };
  const snap = store.snapshot!;
  if (q.token) {
    // Why the token is not recognized, as findings (the store's own findings after them).
    const causes = storeCauses(q.token, snap, store.leftover, 'token');
    const unknown = snap.lookup(q.token).status !== 'known' && !causes.length ? [unknownTokenFinding(q.token, store.info)] : [];
    return { ...base, findings: [...causes, ...unknown, ...store.findings], mode: 'token', token: tokenVerdict(q.token, store, version, now) };
  }
  if (q.attendee || q.organizer || q.uid) {
    let rows: readonly StoreRow[] = snap.rows;
    if (q.attendee) rows = snap.byAttendee(q.attendee);
    if (q.organizer) {
      const set = new Set(snap.byOrganizer(q.organizer));
      rows = rows.filter((r) => set.has(r));
    }
    if (q.uid) rows = rows.filter((r) => r.uid === q.uid);
    // Newest first. The dates are the store's own text (ISO-like), compared by code unit: a
    // locale's collation could reorder digits and separators, and costs far more.
    const sorted = [...rows].sort((a, b) => {
      const x = a.date ?? '';
      const y = b.date ?? '';
      return x < y ? 1 : x > y ? -1 : 0;
    });
    const query = Object.entries(q).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ');
    const none = sorted.length ? [] : [noMatchFinding(query, store.info, store.rules.purgeAtGatewayStart)];
    return { ...base, findings: [...none, ...store.findings], mode: 'list', rows: sorted.map((r) => out(r, store, now)) };
  }
  return { ...base, mode: 'stats', stats: { ...snap.stats(now, store.invitationDaysToLive), invitationDaysToLive: store.invitationDaysToLive } };
}

/**
 * From the findings, in every mode: 1 for any error or warning (a token not recognized, nothing
 * matched, duplicate tokens, an unmigrated SQLite file), else 0.
 */
export function tokensExit(r: TokensReport): 0 | 1 {
  return r.findings.some((f) => f.severity !== 'info') ? 1 : 0;
}
