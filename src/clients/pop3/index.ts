/**
 * A small POP3 client (RFC 1939, CAPA/PIPELINING/response codes RFC 2449, STLS RFC 2595,
 * AUTH RFC 5034) for probing and reading the Calendar Server's iMIP mailbox.
 *
 * `login()` with the default method 'auto' logs in the way the gateway does (Twisted's
 * `twisted.mail.pop3client.POP3Client.login`, `allowInsecureLogin = False`): APOP when the greeting
 * carries a challenge, else STLS when offered, else USER/PASS only on a secure connection; it
 * refuses to send a password in cleartext unless `allowInsecure` is set.
 *
 * `quit()` without `dele()` never deletes anything, but on QUIT many servers (Dovecot among them)
 * record every retrieved message as `\Seen`: a read-only session ends with `endReadOnly()`
 * (RSET, then QUIT), the one way every read path of the tool ends a POP3 session.
 */
import { Pop3Connection, type Pop3ConnectOptions, type TlsDetails } from './connection.js';
import { Pop3Error } from './errors.js';
import { apop } from './commands/apop.js';
import { authPlain } from './commands/auth-plain.js';
import { capa, type Capabilities } from './commands/capa.js';
import { dele } from './commands/dele.js';
import { list, listOne, type ListEntry } from './commands/list.js';
import { noop } from './commands/noop.js';
import { quit } from './commands/quit.js';
import { retr, type RetrResult } from './commands/retr.js';
import { rset } from './commands/rset.js';
import { stat, type StatResult } from './commands/stat.js';
import { stls } from './commands/stls.js';
import { top } from './commands/top.js';
import { uidl, uidlOne, type UidlEntry } from './commands/uidl.js';
import { userPass } from './commands/user-pass.js';

export { Pop3Connection, apopChallengeOf } from './connection.js';
export type {
  CommandSpec,
  PeerCertificateInfo,
  Pop3ConnectOptions,
  Pop3State,
  TlsDetails,
  TranscriptEntry,
} from './connection.js';
export { Pop3Error, isPop3Error } from './errors.js';
export type { Pop3ErrorKind } from './errors.js';
export { ResponseReader, parseStatusLine, bodyLines } from './response.js';
export type { Pop3Response, ResponseExpectation, StatusLine } from './response.js';
export { parseCapabilities } from './commands/capa.js';
export { apopDigest } from './commands/apop.js';
export type { Capabilities, ListEntry, RetrResult, StatResult, UidlEntry };

export interface Pop3ClientOptions extends Pop3ConnectOptions {
  /** Pipeline commands when CAPA lists PIPELINING (default true); false forces one at a time. */
  pipelining?: boolean;
}

export type LoginMethod = 'APOP' | 'USER' | 'AUTH PLAIN';

export interface LoginOptions {
  /** 'auto' follows the gateway (Twisted): APOP if challenged, else STLS if offered, else USER/PASS. */
  method?: 'auto' | 'apop' | 'user' | 'plain';
  /** Upgrade with STLS before a password login when the server offers it (default true). */
  stls?: boolean;
  /** Allow USER/PASS or AUTH PLAIN without TLS (default false, as in the gateway). */
  allowInsecure?: boolean;
}

export class Pop3Client {
  readonly connection: Pop3Connection;
  private readonly wantPipelining: boolean;
  private caps: Capabilities | null = null;
  private firstCaps: Capabilities | null = null;

  private constructor(connection: Pop3Connection, wantPipelining: boolean) {
    this.connection = connection;
    this.wantPipelining = wantPipelining;
  }

  /** Connects (TLS first for implicitTls), reads the greeting and asks CAPA. */
  static async connect(options: Pop3ClientOptions): Promise<Pop3Client> {
    const conn = await Pop3Connection.connect(options);
    const client = new Pop3Client(conn, options.pipelining ?? true);
    try {
      await client.refreshCapabilities();
    } catch (err) {
      conn.destroy();
      throw err;
    }
    client.firstCaps = client.caps;
    return client;
  }

  /** The greeting line's text (after `+OK`). */
  get greeting(): string {
    return this.connection.greeting.text;
  }

  /** The APOP challenge from the greeting, if any. */
  get apopChallenge(): string | undefined {
    return this.connection.apopChallenge;
  }

  get hasApopChallenge(): boolean {
    return this.connection.apopChallenge !== undefined;
  }

  /** The latest CAPA answer (refreshed after STLS and login); null if CAPA is unsupported. */
  get capabilities(): Capabilities | null {
    return this.caps;
  }

  /** CAPA as first seen, before any STLS or login. */
  get initialCapabilities(): Capabilities | null {
    return this.firstCaps;
  }

  get secure(): boolean {
    return this.connection.secure;
  }

  get stlsUsed(): boolean {
    return this.connection.stlsUsed;
  }

  get tls(): TlsDetails | undefined {
    return this.connection.tls;
  }

  get authMethod(): LoginMethod | undefined {
    return this.connection.authMethod;
  }

  /** Whether commands are currently pipelined. */
  get pipelining(): boolean {
    return this.connection.pipelining;
  }

  /** Asks CAPA again and updates pipelining. */
  async refreshCapabilities(): Promise<Capabilities | null> {
    this.caps = await capa(this.connection);
    this.connection.pipelining = this.wantPipelining && (this.caps?.pipelining ?? false);
    return this.caps;
  }

  /** STLS, then CAPA again (RFC 2595: capabilities seen before TLS are discarded). */
  async startTls(): Promise<TlsDetails> {
    const details = await stls(this.connection);
    await this.refreshCapabilities();
    return details;
  }

  /** Logs in; returns the method that worked. The password is used once and not kept. */
  async login(user: string, password: string, options: LoginOptions = {}): Promise<LoginMethod> {
    const method = options.method ?? 'auto';
    const allowStls = options.stls ?? true;
    if (method === 'apop' || (method === 'auto' && this.hasApopChallenge)) {
      await apop(this.connection, user, password);
    } else {
      if (!this.secure && allowStls && this.caps?.stls) await this.startTls();
      if (!this.secure && !options.allowInsecure) {
        const offered = this.caps === null ? 'the server has no CAPA' : this.caps.stls ? 'STLS was not used' : 'the server offers no STLS';
        throw new Pop3Error(
          'auth',
          `refusing to send the password in cleartext to ${this.connection.host}:${this.connection.port}: no APOP challenge in the greeting and ${offered}`,
          { command: method === 'plain' ? 'AUTH PLAIN' : 'USER' },
        );
      }
      if (method === 'plain') await authPlain(this.connection, user, password);
      else await userPass(this.connection, user, password);
    }
    // Capabilities may change after login (RFC 2449 §5); pipelining follows the new list.
    await this.refreshCapabilities();
    return this.connection.authMethod as LoginMethod;
  }

  stat(): Promise<StatResult> {
    return stat(this.connection);
  }

  list(): Promise<ListEntry[]> {
    return list(this.connection);
  }

  listOne(n: number): Promise<ListEntry> {
    return listOne(this.connection, n);
  }

  uidl(): Promise<UidlEntry[]> {
    return uidl(this.connection);
  }

  uidlOne(n: number): Promise<UidlEntry> {
    return uidlOne(this.connection, n);
  }

  /** Header plus the first `lines` body lines. */
  top(n: number, lines: number): Promise<Buffer> {
    return top(this.connection, n, lines);
  }

  /** TOP for many messages; pipelined when the server allows it. Results in the order of `ns`. */
  topMany(ns: readonly number[], lines: number): Promise<Buffer[]> {
    return Promise.all(ns.map((n) => top(this.connection, n, lines)));
  }

  /** Streams one message to `onChunk`. */
  retr(n: number, onChunk: (chunk: Buffer) => void): Promise<RetrResult> {
    return retr(this.connection, n, onChunk);
  }

  /** Retrieves one message into memory (small messages only; use retr() for streaming). */
  async retrBuffer(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await retr(this.connection, n, (c) => parts.push(c));
    return Buffer.concat(parts);
  }

  /** RETR for many messages, pipelined when allowed; chunks are tagged with the message number. */
  retrMany(ns: readonly number[], onChunk: (n: number, chunk: Buffer) => void): Promise<RetrResult[]> {
    return Promise.all(ns.map((n) => retr(this.connection, n, (c) => onChunk(n, c))));
  }

  /** Marks a message deleted (committed by quit()). Only for the explicit `--apply` path. */
  dele(n: number): Promise<void> {
    return dele(this.connection, n);
  }

  noop(): Promise<void> {
    return noop(this.connection);
  }

  /** RSET: unmark every DELE of this session (and, on Dovecot, the "seen" marks of RETR/TOP). */
  rset(): Promise<void> {
    return rset(this.connection);
  }

  /**
   * QUIT and close, committing the session: DELE marks are carried out and many servers (Dovecot
   * among them) store `\Seen` on every message retrieved. Only for the `--apply` path; every
   * read-only path ends with {@link endReadOnly}.
   */
  quit(): Promise<void> {
    return quit(this.connection);
  }

  /**
   * Ends a read-only session so that nothing on the server changes: in the TRANSACTION state RSET
   * first (no DELE mark and no "seen" mark survives), then QUIT. If RSET is refused or cannot be
   * sent, the connection is dropped without QUIT: a session that ends without QUIT never reaches
   * the UPDATE state (RFC 1939 §6), so nothing is committed either. The socket is closed in every
   * case; the error (if any) is rethrown for callers that report it.
   */
  async endReadOnly(): Promise<void> {
    const conn = this.connection;
    if (conn.closed) return;
    try {
      if (conn.state === 'transaction') await rset(conn);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    try {
      await quit(conn);
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /** Drops the connection without QUIT (the server then discards any DELE marks). */
  close(): void {
    this.connection.destroy();
  }
}
