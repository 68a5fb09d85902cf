/**
 * Find and read the server's token store once: the location (config or `--token-store`), ONE
 * query, the 5.0+ leftover SQLite check. Never throws for a store problem: the result says what
 * went wrong and how to fix it, and every command carries on without the store.
 */
import { existsSync } from 'node:fs';
import { getPath } from '../config/load.js';
import type { PlistDict } from '../config/plist-xml.js';
import type { Finding } from '../report/finding.js';
import type { ServerVersion } from '../server/release.js';
import { tokenStoreRules, type TokenStoreRules } from '../server/token-store.js';
import { notMigratedFinding, duplicatesFinding, unreadableFinding, unsupportedFinding } from './findings.js';
import { describeLocation, locateOverride, locateStore, sqlitePath } from './locate.js';
import { TokenSnapshot } from './snapshot.js';
import { StoreReadError, type LoadedStore, type ServerStoreInfo, type StoreLocation, type StoreRow } from './types.js';

export interface LoadStoreOptions {
  /** The effective config; null when no config could be read (then only --token-store works). */
  effective: PlistDict | null;
  version: ServerVersion;
  /** `--token-store PATH|URL`. */
  override?: string | undefined;
  timeoutMs: number;
}

export interface StoreResult extends LoadedStore {
  snapshot: TokenSnapshot | null;
  /** token-store.* findings: unreadable, unsupported, not migrated, duplicates. */
  findings: Finding[];
  /** InvitationDaysToLive from the config (default 90). */
  invitationDaysToLive: number;
}

export function lookupRuleText(rules: TokenStoreRules): string {
  return rules.lookup === 'exactly-one'
    ? 'exact match, and only when exactly one row holds the token'
    : 'exact match; the first row when several hold the token';
}

async function readRows(loc: StoreLocation, rules: TokenStoreRules, timeoutMs: number): Promise<{ rows: StoreRow[]; notes: string[] }> {
  if (loc.kind === 'sqlite') {
    const { readSqliteStore } = await import('./sqlite.js');
    return readSqliteStore(loc.path, rules.kind === 'sqlite' ? 'store' : 'migration-source');
  }
  if (loc.kind === 'postgres') {
    const { readPgStore } = await import('./postgres.js');
    return { rows: await readPgStore(loc.target, { timeoutMs }), notes: [] };
  }
  throw new StoreReadError(loc.reason, loc.fix, 'unsupported');
}

function invitationDays(eff: PlistDict | null): number {
  const v = eff ? getPath(eff, 'Scheduling.iMIP.InvitationDaysToLive') : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : 90;
}

export async function loadServerStore(o: LoadStoreOptions): Promise<StoreResult> {
  const rules = tokenStoreRules(o.version);
  const findings: Finding[] = [];
  let loc: StoreLocation;
  if (o.override) loc = locateOverride(o.override);
  else if (o.effective) loc = locateStore(o.effective, o.version);
  else loc = { kind: 'unsupported', how: 'no config', reason: 'no config was read, so the token store is not known', fix: 'Give --config PATH, or --token-store PATH|URL.' };
  // The table follows what is read (a SQLite file holds TOKENS); the lookup rule is the release's.
  const table = loc.kind === 'sqlite' ? 'TOKENS' : loc.kind === 'postgres' ? 'IMIP_TOKENS' : null;
  const info: ServerStoreInfo = {
    kind: loc.kind === 'unsupported' ? null : loc.kind,
    location: loc.kind === 'unsupported' ? null : describeLocation(loc),
    how: loc.how,
    table,
    lookupRule: lookupRuleText(rules),
    readable: false,
    rows: null,
  };
  let rows: StoreRow[] | null = null;
  const started = Date.now();
  try {
    const read = await readRows(loc, rules, o.timeoutMs);
    rows = read.rows;
    info.readable = true;
    info.rows = rows.length;
    info.ms = Date.now() - started;
    // 5.0+ has no SQLite store (CalendarServer-5.0 imip/mailgateway.py migrateTokensToStore copies
    // the file into IMIP_TOKENS at upgrade and deletes it): say whose answers these are.
    if (loc.kind === 'sqlite' && rules.kind === 'postgres') {
      read.notes.unshift(
        `Calendar Server ${o.version.text} keeps its tokens in IMIP_TOKENS in PostgreSQL, not in this SQLite file, which is only what the upgrade from 4.x migrates from: the answers below are this file's, not the running server's; to read the server's store, give --token-store postgres://USER@HOST/DATABASE or leave --token-store out`,
      );
    }
    if (read.notes.length) info.notes = read.notes;
  } catch (e) {
    if (!(e instanceof StoreReadError)) throw e;
    info.error = e.message;
    info.fix = e.fix;
    findings.push(e.code === 'unsupported' ? unsupportedFinding(info) : unreadableFinding(info));
  }
  const snapshot = rows ? new TokenSnapshot(rows, { ...rules, table: table === 'TOKENS' ? 'TOKENS' : 'IMIP_TOKENS' }) : null;

  // 5.0+: a SQLite store left in DataRoot means the one-time migration never ran.
  let leftover: LoadedStore['leftover'] = null;
  if (rules.kind === 'postgres' && o.effective && !(loc.kind === 'sqlite')) {
    const path = sqlitePath(o.effective, o.version);
    if (existsSync(path)) {
      const { readSqliteStore } = await import('./sqlite.js');
      try {
        leftover = { path, rows: (await readSqliteStore(path, 'migration-source')).rows };
      } catch (e) {
        leftover = { path, rows: null, error: (e as Error).message };
      }
      // Distinct tokens: the file may hold a token in several rows (2.x-4.x duplicates).
      const missing = leftover.rows && snapshot ? new Set(leftover.rows.map((r) => r.token).filter((t) => snapshot.lookup(t).status === 'unknown')).size : null;
      findings.push(notMigratedFinding(path, leftover.rows, missing));
    }
  }
  if (snapshot && rules.lookup === 'exactly-one') {
    const dups = snapshot.duplicates();
    if (dups.count) findings.push(duplicatesFinding(dups.count, dups.example));
  }
  return { info, rules, rows, leftover, snapshot, findings, invitationDaysToLive: invitationDays(o.effective) };
}
