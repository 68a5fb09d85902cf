/**
 * One poll cycle's read over POP3, as every release reads (`POP3DownloadProtocol`, 2.x–4.x
 * `twistedcaldav/mail.py`, 5.0+ `imip/inbound.py`): log in the way Twisted's
 * `twisted.mail.pop3client.POP3Client.login` does (APOP if the greeting has a challenge, else STLS
 * when offered, never a cleartext password), `LIST`, then `RETR` every message. Each RETR is
 * streamed into the push MIME parser, which keeps only the bodies a verdict needs, so a 50 MB
 * message or 10,000 messages never sit in memory. RETRs are pipelined when CAPA lists PIPELINING
 * (RFC 2449).
 *
 * Without --apply the session ends with RSET then QUIT and no DELE, so nothing changes (on QUIT alone
 * Dovecot and many other servers store \Seen on every message retrieved). With --apply,
 * `dele()` marks messages and `commit()` sends the QUIT that makes the server delete them
 * (RFC 1939 §6: a session that ends without QUIT deletes nothing), after an RSET and the same DELEs
 * again, so that no message left in the maildrop is stored \Seen.
 */
import { needsBody } from '../imip/classify.js';
import { MimeStreamParser } from '../imip/mime.js';
import { partByNumber } from '../imip/mime-part.js';
import { isIP } from 'node:net';
import { Pop3Client, isPop3Error, type Pop3ClientOptions, type Pop3Error } from '../clients/pop3/index.js';
import { loadCaPem, runContext, type OfferedVersions } from '../net/net-stage.js';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { MailboxOpenError, maskOpenError, probeStage } from './open-error.js';
import { mailboxHost, noCredentialsText } from './target.js';
import type { OnMessage, OnProgress, ReaderInfo, ReadStats } from './types.js';

/**
 * POP3 connection options with the server's receiving semantics: `UseSSL` is TLS from the first
 * byte (else STLS at login); certificates checked unless --insecure; --ca-file added to the
 * system roots, as on IMAP. Shared by every POP3 reader.
 */
export function pop3ClientOptions(receiving: ReceivingSettings, connect: ConnectOptions): Pop3ClientOptions {
  const host = receiving.server.trim();
  const pem = loadCaPem(connect);
  // twisted pop3client.py `POP3Client._getContextFactory`: STLS with TLS 1.0 only, where the
  // server's own client starts TLS itself (src/probes/server-access.ts decides).
  const stls: OfferedVersions = !receiving.useSSL && connect.mailboxUpgrade === 'tls1.0-only' ? 'tls1.0-only' : 'negotiate';
  return {
    host,
    port: receiving.port,
    implicitTls: receiving.useSSL,
    ...(isIP(host) ? {} : { servername: host }),
    // One context per run (the system roots plus --ca-file), shared by every connection.
    secureContext: (via) => runContext(pem, via === 'stls' ? stls : 'negotiate'),
    rejectUnauthorized: !connect.insecure,
    timeoutMs: connect.timeoutMs,
  };
}

/** Why a POP3 session could not start, in one sentence; IN-USE (RFC 2449) said plainly. */
export function pop3ErrorText(err: unknown): string {
  if (isPop3Error(err)) {
    const e = err as Pop3Error;
    if (e.responseCode?.toUpperCase() === 'IN-USE') {
      return `the maildrop is in use by another POP3 session (-ERR [IN-USE] ${e.serverText ?? ''}): another poll or a mail client holds the lock (RFC 1939 section 8, RFC 2449 section 8.1.1); try again when it has finished`.replace(/ \)/, ')');
    }
    return e.message;
  }
  return (err as Error)?.message ?? String(err);
}

export function isInUse(err: unknown): boolean {
  return isPop3Error(err) && (err as Pop3Error).responseCode?.toUpperCase() === 'IN-USE';
}

/** RETR commands queued at most at once when pipelining (the connection sends up to 64 of them). */
const RETR_WINDOW = 128;

/** The stage a POP3 client error stopped at, in `test-mailbox`'s words. */
function pop3Stage(err: unknown, otherwise: 'connect' | 'login'): string {
  if (!isPop3Error(err)) return otherwise;
  if (err.kind === 'tls') return /STLS/.test(err.message) ? 'starttls' : 'tls';
  if (err.kind === 'auth') return 'login';
  if (err.step) return probeStage(err.step);
  return err.kind === 'connect' && otherwise === 'connect' ? 'connect' : otherwise;
}

export class Pop3Reader {
  readonly info: ReaderInfo;
  /** UIDL per message number (empty when the server has no UIDL). */
  readonly uidls = new Map<number, string>();
  /** The messages marked with DELE, in order. */
  private readonly marked: number[] = [];

  private constructor(
    readonly client: Pop3Client,
    info: ReaderInfo,
  ) {
    this.info = info;
  }

  /** 0: POP3 counts the messages with LIST, inside the read (a LIST at open would cost a round trip). */
  get messagesAtOpen(): number {
    return 0;
  }

  static async open(receiving: ReceivingSettings, connect: ConnectOptions, opts: { readOnly: boolean }): Promise<Pop3Reader> {
    try {
      return await Pop3Reader.openSession(receiving, connect, opts);
    } catch (err) {
      // Never the password, even when the server quotes back what it was sent.
      throw maskOpenError(err, receiving.password);
    }
  }

  private static async openSession(receiving: ReceivingSettings, connect: ConnectOptions, opts: { readOnly: boolean }): Promise<Pop3Reader> {
    const host = mailboxHost(receiving);
    const where = `${host}:${receiving.port}`;
    // Nothing to log in with: no session at all (the access check before it has tested the
    // connection); judged as the login stage's missing credentials.
    if (!receiving.username || !receiving.password) {
      throw new MailboxOpenError(`POP3 ${where}: ${noCredentialsText(receiving)}`, { protocol: 'pop3', stage: 'login' });
    }
    let client: Pop3Client;
    try {
      client = await Pop3Client.connect(pop3ClientOptions(receiving, connect));
    } catch (err) {
      throw new MailboxOpenError(`POP3 ${where}: ${pop3ErrorText(err)}`, { protocol: 'pop3', stage: pop3Stage(err, 'connect'), cause: err });
    }
    let method: string;
    try {
      // Twisted's POP3Client.login: APOP if challenged, else STLS if offered, else refuse cleartext.
      method = await client.login(receiving.username, receiving.password);
    } catch (err) {
      client.close();
      // A maildrop held by another session (-ERR [IN-USE]) is judged like any other failure to
      // open: mailbox.in-use, as test-mailbox says it.
      throw new MailboxOpenError(`POP3 ${where}: ${pop3ErrorText(err)}`, { protocol: 'pop3', stage: pop3Stage(err, 'login'), cause: err });
    }
    const tls = receiving.useSSL ? 'implicit' : client.stlsUsed ? 'stls' : method === 'APOP' ? 'apop' : 'none';
    const info: ReaderInfo = {
      protocol: 'pop3',
      server: host,
      port: receiving.port,
      username: receiving.username,
      tls,
      ...(client.tls?.protocol ? { tlsVersion: client.tls.protocol } : {}),
      readOnly: opts.readOnly,
      commands: [`login (${method})`],
    };
    return new Pop3Reader(client, info);
  }

  get pipelining(): boolean {
    return this.client.pipelining;
  }

  /**
   * LIST, UIDL, then RETR every message, in order; each message is parsed as it streams and handed
   * to `onMessage` when complete. Throws when the connection fails (messages already handed over
   * stay valid).
   */
  async read(opts: { onMessage: OnMessage; onProgress?: OnProgress }): Promise<ReadStats> {
    const c = this.client;
    const list = await c.list();
    this.info.commands.push('LIST');
    let roundTrips = 1;
    if (c.capabilities === null || c.capabilities.uidl) {
      try {
        for (const u of await c.uidl()) this.uidls.set(u.n, u.uid);
        this.info.commands.push('UIDL');
        roundTrips++;
      } catch {
        // No UIDL: messages are known by number only.
      }
    }
    const stats: ReadStats = { exists: list.length, selected: list.length, seenSkipped: 0, vanished: 0, bytesIn: 0, bytesOut: 0, roundTrips };
    if (!list.length) return stats;
    this.info.commands.push(`RETR 1..${list.length}${c.pipelining ? ' (pipelined)' : ''}`);
    stats.roundTrips += c.pipelining ? Math.ceil(list.length / 64) : list.length;

    let done = 0;
    // Answers arrive in command order; a parser lives from the first chunk of its message until
    // that RETR settles, so only one or two are open at any time.
    const parsers = new Map<number, MimeStreamParser>();
    const parserFor = (n: number): MimeStreamParser => {
      let p = parsers.get(n);
      if (!p) {
        p = new MimeStreamParser(needsBody);
        parsers.set(n, p);
      }
      return p;
    };
    let fatal: unknown = null;
    const retrOne = (n: number, size: number): Promise<void> =>
      c
        .retr(n, (chunk) => {
          stats.bytesIn += chunk.length;
          parserFor(n).write(chunk);
        })
        .then(
          () => {
            const parsed = parserFor(n).end();
            parsers.delete(n);
            opts.onMessage({
              ref: { number: n, uidl: this.uidls.get(n) ?? null },
              size: size || parsed.size,
              input: { headers: parsed.headers, root: parsed.root, bodies: parsed.bodies, problems: parsed.problems },
            });
            opts.onProgress?.(++done, list.length);
          },
          (err: unknown) => {
            parsers.delete(n);
            // A -ERR for one message (deleted by another session meanwhile): it is gone; anything
            // else (timeout, closed connection) ends the cycle.
            if (isPop3Error(err) && err.kind === 'protocol' && err.serverText !== undefined) stats.vanished++;
            else fatal ??= err;
          },
        );
    // A sliding window of RETRs: enough in the queue to keep the pipeline full, never all of them
    // (10,000 queued commands would cost memory per message). Answers come in command order, so
    // messages are handed over in order.
    const limit = c.pipelining ? RETR_WINDOW : 1;
    await new Promise<void>((resolve) => {
      let next = 0;
      let active = 0;
      const launch = (): void => {
        while (active < limit && next < list.length && !fatal) {
          const e = list[next++]!;
          active++;
          void retrOne(e.n, e.size)
            .catch((err: unknown) => {
              fatal ??= err;
            })
            .then(() => {
              active--;
              launch();
            });
        }
        if (active === 0) resolve();
      };
      launch();
    });
    if (fatal) throw fatal instanceof Error ? fatal : new Error(String(fatal));
    return stats;
  }

  /**
   * RETR message `n` again (a message number stays the same for the whole session) and return
   * the decoded body of part `part` as the read gave it, or null when it is not there whole.
   */
  async reread(n: number, part: string): Promise<Buffer | null> {
    const parser = new MimeStreamParser(needsBody);
    await this.client.retr(n, (chunk) => parser.write(chunk));
    const parsed = parser.end();
    const found = partByNumber(parsed.root, part);
    return found && !found.truncated ? (parsed.bodies.get(part) ?? null) : null;
  }

  /** Mark a message for deletion (takes effect only at {@link commit}). */
  async dele(n: number): Promise<void> {
    await this.client.dele(n);
    this.marked.push(n);
  }

  /**
   * QUIT: the server deletes the DELE-marked messages now (RFC 1939 §6 UPDATE state). RSET first,
   * then the same DELEs again: on QUIT Dovecot (and many other servers) stores \Seen on every
   * message retrieved in the session, so the messages this run read and left (not injected)
   * would otherwise come out \Seen, which an IMAP reader of 5.1 and later never processes. RSET
   * forgets what was retrieved and marked; only the DELEs are then committed.
   */
  async commit(): Promise<void> {
    await this.client.rset();
    for (const n of this.marked) await this.client.dele(n);
    await this.client.quit();
  }

  /**
   * End the session without changing anything: RSET then QUIT (the POP3 client's read-only end),
   * or, when messages were marked, a drop without QUIT (the server then discards every mark).
   */
  async close(): Promise<void> {
    if (this.marked.length) {
      this.client.close();
      return;
    }
    await this.client.endReadOnly().catch(() => undefined);
  }

  /** Drop the connection without QUIT: the server discards every DELE mark. */
  destroy(): void {
    this.client.close();
  }
}
