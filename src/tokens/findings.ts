/**
 * Findings about the server's token store, and the catalog of every id this folder raises
 * (the man page and `test/cli/man.test.ts` read {@link TOKEN_STORE_FINDINGS}).
 */
import type { Finding, Severity } from '../report/finding.js';
import type { ReleaseLine } from '../server/release.js';
import type { ServerStoreInfo, StoreRow } from './types.js';

interface Meta {
  id: string;
  severity: Severity;
  lines: readonly ReleaseLine[];
  summary: string;
}

const ALL: readonly ReleaseLine[] = ['2.x', '3.x-4.x', '5.0+'];
const GATEWAY: readonly ReleaseLine[] = ['2.x', '3.x-4.x'];
const C: readonly ReleaseLine[] = ['5.0+'];

export const TOKEN_STORE_FINDINGS: Meta[] = [
  { id: 'token-store.unreadable', severity: 'warning', lines: ALL, summary: "The server's token store could not be read (missing socket or file, permissions, refused login, wrong schema, damaged file): token verdicts stay unchecked; the fix names what to change." },
  { id: 'token-store.unsupported', severity: 'warning', lines: C, summary: 'DBType is "oracle" (or unknown, or the database settings are incomplete): the token store is not read and verdicts stay unchecked.' },
  { id: 'token-store.not-migrated', severity: 'warning', lines: C, summary: '5.0+: mailgatewaytokens.sqlite is still in DataRoot; the upgrade copies it into IMIP_TOKENS and deletes it, so the migration never ran (or failed) and replies to older invitations are not recognized.' },
  { id: 'token-store.duplicate-tokens', severity: 'warning', lines: GATEWAY, summary: '2.x-4.x: tokens held by more than one row; the gateway recognizes a token only when exactly one row has it.' },
  { id: 'token.unknown-altered', severity: 'error', lines: ALL, summary: 'An unrecognized token is a stored token re-cased or cut by the mail client; the stored token and its event are given.' },
  { id: 'token.unknown-duplicate', severity: 'error', lines: GATEWAY, summary: '2.x-4.x: the token is in the store more than once, so the gateway finds no single match.' },
  { id: 'token.unknown-purged', severity: 'error', lines: GATEWAY, summary: '2.x-4.x: the token was deleted at a gateway start because no invitation for that organizer, attendee and event was sent for InvitationDaysToLive days.' },
  { id: 'token.unknown-store-reset', severity: 'error', lines: ALL, summary: 'The token store was emptied or recreated after the invitation went out (every token in it is newer than the reply).' },
  { id: 'token.unknown-not-migrated', severity: 'error', lines: C, summary: '5.0+: the token is only in the old mailgatewaytokens.sqlite, which was never migrated into IMIP_TOKENS.' },
  { id: 'token.unknown', severity: 'error', lines: ALL, summary: 'imip tokens TOKEN: the store has no row with this token and shows no other cause (re-cased or cut, held twice, not migrated), so the server answers a reply carrying it with UNKNOWN_TOKEN.' },
  { id: 'token.no-match', severity: 'warning', lines: ALL, summary: 'imip tokens --attendee/--organizer/--uid: no token in the store matches.' },
  { id: 'token.unknown-other-server', severity: 'warning', lines: ALL, summary: 'The reply belongs to another server or pod sharing the mailbox: another address, or an event this store has never seen.' },
  { id: 'token.store-state', severity: 'info', lines: ALL, summary: "send-test --wait-reply: whether the server's store holds the token of the invitation, and what that means for this release." },
];

const f = (id: string, severity: Severity, path: string, message: string, evidence: Record<string, unknown>, fix: string): Finding => ({ id, severity, path, message, evidence, fix });

export function unreadableFinding(info: ServerStoreInfo): Finding {
  return f(
    'token-store.unreadable',
    'warning',
    'tokenStore',
    `The server's token store could not be read: ${info.error ?? 'unknown error'}. Token verdicts are unchecked: a reply may be judged INJECTION_SUBMITTED although the server does not know its token.`,
    { location: info.location, how: info.how, table: info.table },
    info.fix ?? 'Give --token-store PATH|URL.',
  );
}

export function unsupportedFinding(info: ServerStoreInfo): Finding {
  return f('token-store.unsupported', 'warning', 'DBType', `${info.error ?? 'The token store is not supported'}. Token verdicts are unchecked.`, { how: info.how }, info.fix ?? 'Give --token-store postgres://USER@HOST/DATABASE.');
}

/** `missing`: how many of the file's distinct tokens IMIP_TOKENS lacks (null when unknown). */
export function notMigratedFinding(path: string, leftoverRows: StoreRow[] | null, missing: number | null): Finding {
  const tokens = leftoverRows === null ? null : new Set(leftoverRows.map((r) => r.token)).size;
  const rows = leftoverRows?.length ?? null;
  const what =
    tokens === null
      ? 'An unreadable mailgatewaytokens.sqlite'
      : `A mailgatewaytokens.sqlite holding ${tokens} token${tokens === 1 ? '' : 's'}${rows !== tokens ? ` in ${rows} rows` : ''}`;
  const lost = missing ? `, and ${missing} of its tokens ${missing === 1 ? 'is' : 'are'} not in IMIP_TOKENS, so replies to ${missing === 1 ? 'that invitation carry an unknown token' : 'those invitations carry unknown tokens'}` : '';
  return f(
    'token-store.not-migrated',
    'warning',
    'DataRoot',
    `${what} is still in DataRoot. From 5.0 the server copies it into IMIP_TOKENS once, at upgrade, and then deletes it: the migration never ran or failed${lost}.`,
    { path, rows, tokens, missingFromStore: missing },
    'Keep a copy of the file, then restart Calendar Server with it in place (the copy runs in the upgrade step after the database import at start-up) and read the error log of that start for a failure; once the copy succeeds the server deletes the file.',
  );
}

export function duplicatesFinding(count: number, example: string | null): Finding {
  return f(
    'token-store.duplicate-tokens',
    'warning',
    'tokenStore.TOKENS',
    `${count} token${count === 1 ? ' is' : 's are'} held by more than one row: the gateway recognizes a token only when exactly one row has it, so replies carrying ${count === 1 ? 'it are' : 'them are'} unknown tokens.`,
    { tokens: count, example },
    'Delete the extra rows with the sqlite3 tool while the mail gateway is stopped (keep one row per token), then start it again.',
  );
}

/** `imip tokens TOKEN`: no row holds it and the store shows no other cause. */
export function unknownTokenFinding(token: string, info: ServerStoreInfo): Finding {
  return f(
    'token.unknown',
    'error',
    'token',
    `Token ${token} is not in the store: the server logs "found a token but didn't recognize it" for a reply carrying it (UNKNOWN_TOKEN) and the reply is not applied.`,
    { token, location: info.location, rows: info.rows },
    'Check the token (the part after "+" in the address the reply went to) and that this is the store of the server that sent the invitation; imip diagnose --message on the reply tells why the server does not know it.',
  );
}

/** `imip tokens --attendee/--organizer/--uid`: nothing matched. */
export function noMatchFinding(query: string, info: ServerStoreInfo, purges: boolean): Finding {
  return f(
    'token.no-match',
    'warning',
    'token',
    `No token in the store for ${query}: this store knows no invitation by mail for it${purges ? ', or its tokens were deleted at a start of the mail gateway (InvitationDaysToLive)' : ''}.`,
    { query, location: info.location, rows: info.rows },
    'Check the spelling (attendees are stored as lower-case mailto: addresses from 3.2 on; organizers as mailto:, urn:uuid: or urn:x-uid:), and that this is the store of the server that sent the invitation.',
  );
}
