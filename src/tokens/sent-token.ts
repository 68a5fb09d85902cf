/**
 * `send-test --wait-reply`: does the server's store hold the token of the invitation just sent?
 * send-test mails the invitation itself, built as the server builds it; the server never saw it,
 * so its store holds the token only if a real invitation (through the server) issued the same one
 * (2.x–4.x twistedcaldav/mail.py MailHandler.outbound → getToken/createToken; 5.0+
 * imip/outbound.py MailSender.outbound → imipGetToken/imipCreateToken: only the server creates tokens).
 */
import type { Finding } from '../report/finding.js';
import type { ServerVersion } from '../server/release.js';
import type { StoreResult } from './load.js';
import type { ServerStoreInfo } from './types.js';

export interface SentTokenState {
  /** true: the store holds it; false: it does not; null: the store could not be read. */
  holdsToken: boolean | null;
  store: ServerStoreInfo;
}

export function sentTokenState(token: string, store: StoreResult, version: ServerVersion): { finding: Finding; state: SentTokenState } {
  const state: SentTokenState = { holdsToken: store.snapshot ? store.snapshot.lookup(token).status === 'known' : null, store: store.info };
  const base = { id: 'token.store-state', severity: 'info' as const, path: 'tokenStore' };
  if (state.holdsToken === null) {
    return {
      state,
      finding: {
        ...base,
        message: `Whether the server's token store holds token ${token} could not be checked: ${store.info.error ?? 'the store is not available'}.`,
        evidence: { token, location: store.info.location, how: store.info.how },
        fix: store.info.fix ?? 'Give --token-store PATH|URL.',
      },
    };
  }
  if (state.holdsToken) {
    const row = store.snapshot!.lookup(token);
    return {
      state,
      finding: {
        ...base,
        message: `The server's token store holds token ${token}: the server recognizes the reply and injects it.`,
        evidence: { token, ...(row.status === 'known' ? { organizer: row.row.organizer, attendee: row.row.attendee, uid: row.row.uid } : {}) },
        fix: 'Nothing to do.',
      },
    };
  }
  const line = version.line === '5.0+'
    ? 'From 5.0 only an invitation the server itself sends creates a row in IMIP_TOKENS'
    : 'Only an invitation the mail gateway itself sends creates a row in its token store';
  return {
    state,
    finding: {
      ...base,
      message: `The server's token store does not hold token ${token}: this test invitation was mailed by imip, not by the server. ${line}, so the server itself answers this reply with UNKNOWN_TOKEN ("found a token but didn't recognize it"); the round trip proves that the token survives the mail path, not that the server matches it.`,
      evidence: { token, location: store.info.location, rows: store.info.rows },
      fix: 'To test the server\'s own matching, invite the attendee from a calendar client on this server, then check the token with "imip tokens --attendee ADDRESS" and watch the reply with "imip poll --once".',
    },
  };
}
