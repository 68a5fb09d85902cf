/**
 * The server's token store as this tool sees it: where it is, the rows read from it, and what
 * went wrong reading it. Layer: `src/tokens/` imports `server/` and `report/` only.
 */
import type { TokenStoreRules } from '../server/token-store.js';

/** One row of TOKENS (2.x–4.x) or IMIP_TOKENS (5.0+), as stored. */
export interface StoreRow {
  token: string;
  /** Organizer CUA as stored (`mailto:`, `urn:uuid:`, `urn:x-uid:`). */
  organizer: string;
  /** Attendee `mailto:` as stored (lower-cased from 3.2 on). */
  attendee: string;
  /** The event's UID (ICALUID). */
  uid: string;
  /**
   * DATESTAMP (2.x–4.x, a day `YYYY-MM-DD`) or ACCESSED (5.0+, a UTC timestamp) as an ISO string:
   * the last time an invitation used the token. Null when the column is empty or unreadable.
   */
  date: string | null;
}

/** A PostgreSQL to read, after the config (or --token-store) was interpreted. */
export interface PgTarget {
  /** Unix socket directory (starts with "/") or host name. */
  host: string;
  port: number;
  database: string;
  user: string;
  /** Never printed; see {@link describeLocation}. */
  password?: string;
  ssl?: boolean;
}

export type StoreLocation =
  | { kind: 'sqlite'; path: string; how: string }
  | { kind: 'postgres'; target: PgTarget; how: string }
  | { kind: 'unsupported'; how: string; reason: string; fix: string };

/** Reading a store failed: one sentence for the admin, and what to do. Never holds a secret. */
export class StoreReadError extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly code: string = 'unreadable',
  ) {
    super(message);
    this.name = 'StoreReadError';
  }
}

/** What `poll`, `diagnose`, `send-test` and `tokens` report about the server's store. */
export interface ServerStoreInfo {
  kind: 'sqlite' | 'postgres' | null;
  /** Path, or `postgres://user@host:port/db` without password. */
  location: string | null;
  /** Which config keys (or flag) named it. */
  how: string;
  table: string | null;
  /** How the release matches a token, in words. */
  lookupRule: string;
  readable: boolean;
  rows: number | null;
  /** Why it could not be read. */
  error?: string;
  fix?: string;
  /** Milliseconds the one query took. */
  ms?: number;
  /** Anything the reader noticed (a write in progress, ...). */
  notes?: string[];
}

export interface LoadedStore {
  info: ServerStoreInfo;
  rules: TokenStoreRules;
  /** Null when the store could not be read. */
  rows: StoreRow[] | null;
  /** 5.0+: a `mailgatewaytokens.sqlite` left in DataRoot. */
  leftover: { path: string; rows: StoreRow[] | null; error?: string } | null;
}
