/**
 * One token lookup for `poll`, `diagnose` and `send-test`: the server's store when it can be read
 * (its answer is the server's answer: known or unknown), else the tokens `send-test` recorded
 * (known, or "unchecked" for anything else). Built once per run from ONE query, so the cycle
 * looks every message up in memory.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenRecord } from '../imip/classify-types.js';
import type { Finding } from '../report/finding.js';
import { readTokens, stateDir, tokenLookup, TOKENS_FILE, type SentToken } from '../state/tokens.js';
import { loadServerStore, type LoadStoreOptions, type StoreResult } from './load.js';
import type { ServerStoreInfo, StoreRow } from './types.js';

/** What the reports say about where tokens were looked up. */
export interface TokenStoreSummary {
  /** send-test's own record file. */
  path: string;
  /** Tokens send-test recorded; null when it has no file. */
  records: number | null;
  /** The server's store. */
  server: ServerStoreInfo;
  /** Findings about the store (unreadable, unsupported, not migrated, duplicates). */
  findings: Finding[];
}

/** A token's row as the reports show it. */
export interface TokenRow {
  source: 'server' | 'send-test';
  organizer: string;
  attendee: string;
  uid: string;
  /** Last time an invitation used the token (server store), or when send-test sent it. */
  lastUsed: string | null;
}

export interface CombinedLookup {
  lookup(token: string): TokenRecord | null | undefined;
  /** The row behind a token, for the report (null when neither store has it). */
  row(token: string): TokenRow | null;
  /** Whether send-test recorded this token. */
  sentByTool(token: string): SentToken | null;
  summary: TokenStoreSummary;
  store: StoreResult;
}

function toRecord(r: StoreRow): TokenRecord {
  return { token: r.token, organizer: r.organizer, attendee: r.attendee, uid: r.uid, ...(r.date ? { sentAt: r.date } : {}) };
}

export function combine(store: StoreResult, sent: SentToken[] | null, sentPath: string): CombinedLookup {
  const sentLookup = tokenLookup(sent);
  const sentBy = new Map((sent ?? []).map((s) => [s.token, s]));
  const snap = store.snapshot;
  return {
    lookup(token) {
      if (snap) {
        const res = snap.lookup(token);
        return res.status === 'known' ? toRecord(res.row) : null;
      }
      return sentLookup(token);
    },
    row(token) {
      if (snap) {
        const res = snap.lookup(token);
        if (res.status === 'known') return { source: 'server', organizer: res.row.organizer, attendee: res.row.attendee, uid: res.row.uid, lastUsed: res.row.date };
        if (res.status === 'ambiguous') return null;
      }
      const s = sentBy.get(token);
      return s ? { source: 'send-test', organizer: s.organizer, attendee: s.attendee, uid: s.uid, lastUsed: s.sentAt } : null;
    },
    sentByTool: (token) => sentBy.get(token) ?? null,
    summary: { path: sentPath, records: sent === null ? null : sent.length, server: store.info, findings: store.findings },
    store,
  };
}

/** Read the server's store (one query) and send-test's records, and combine them. */
export async function loadTokenLookup(o: LoadStoreOptions & { stateDir?: string | undefined }): Promise<CombinedLookup> {
  const dir = stateDir(o.stateDir);
  const path = join(dir, TOKENS_FILE);
  const sent = existsSync(path) ? readTokens(dir) : null;
  const store = await loadServerStore(o);
  return combine(store, sent, path);
}
