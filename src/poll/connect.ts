/**
 * Opening the receiving mailbox: first how Calendar Server's own client would connect and log in
 * (the access check, src/probes/server-access.ts), then the tool's own session (the reader).
 *
 * Light on purpose: it loads neither the classifier nor ical.js, so `poll` can start both
 * connections before it loads them and let the module loading fill the time the mail server
 * takes to answer (see {@link openForReading}).
 */
import type { ConnectOptions, ImipSettings, MailboxProtocol } from '../config/settings.js';
// Types only: each reader (and imapflow behind the IMAP one) is loaded when its protocol is used.
import type { ImapReader } from '../mailbox/imap-reader.js';
import type { Pop3Reader } from '../mailbox/pop3-reader.js';
import type { OnMessage, OnProgress, OnRoom, ReadStats } from '../mailbox/types.js';
import type { ServerAccess } from '../probes/server-access.js';
import type { ServerVersion } from '../server/release.js';
import { mailboxHost } from '../mailbox/target.js';

/** What opening the mailbox needs to know (a part of the cycle's context). */
export interface MailboxContext {
  settings: ImipSettings;
  version: ServerVersion;
  protocol: MailboxProtocol;
  connect: ConnectOptions;
}

export type Reader = ImapReader | Pop3Reader;

/**
 * Before reading: how Calendar Server's own IMAP/POP3 client would connect and log in here
 * (src/probes/server-access.ts, the release's row of src/server/mail-clients.ts). The reader then
 * connects the same way: `ctx.connect.mailboxUpgrade` is set to what the server's STARTTLS/STLS
 * offers. A server that cannot be reached or stalls is a MailboxOpenError naming the stage.
 */
export async function checkAccess(ctx: MailboxContext): Promise<ServerAccess> {
  const r = ctx.settings.receiving;
  mailboxHost(r);
  const { checkServerAccess } = await import('../probes/server-access.js');
  const access = await checkServerAccess(r, ctx.connect, ctx.version);
  ctx.connect = { ...ctx.connect, mailboxUpgrade: access.upgrade };
  return access;
}

/** Connect and log in as the server would (2.x–4.x `IMAP4Service`/`POP3Service`, 5.0+ `MailRetriever`); IMAP EXAMINE unless `readOnly` is false. */
export async function openReader(ctx: MailboxContext, readOnly: boolean): Promise<Reader> {
  if (ctx.protocol === 'imap') {
    const { ImapReader } = await import('../mailbox/imap-reader.js');
    return ImapReader.open(ctx.settings.receiving, ctx.connect, { readOnly });
  }
  const { Pop3Reader } = await import('../mailbox/pop3-reader.js');
  return Pop3Reader.open(ctx.settings.receiving, ctx.connect, { readOnly });
}

/** One turn of the event loop: what the sockets have to do (a TLS hello to send) gets done. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The access check under way, and the read-only reader's session when it opens at the same time. */
export interface MailboxOpening {
  /** The access check; rejects with a MailboxOpenError when the mail server cannot be reached. */
  access: Promise<ServerAccess>;
  /** The read-only reader: the one opened with the check, or one opened now. Call once the check allows reading. */
  reader(): Promise<Reader>;
  /** The check stopped the cycle or failed: a reader opened with it is logged out unused. */
  abandon(): Promise<void>;
}

/**
 * Start opening the mailbox for a read-only cycle.
 *
 * With UseSSL true the tool's session connects the same way whatever the access check finds (TLS
 * from the first byte, the certificate checked by the tool before its login), so it is opened
 * while the check runs: the two handshakes overlap instead of following each other. It is used
 * only if the check lets the cycle read; otherwise it is logged out unread. No password goes
 * anywhere it would not have gone: the session sends it only after its own certificate check,
 * exactly as when it opens after the check.
 *
 * With UseSSL false the session must upgrade as the check finds the server's client would (TLS 1.0
 * only, or negotiated), so it opens after the check, as before.
 *
 * Resolves after the check's first bytes have gone out and, when the session opens now, after
 * its module is loaded and its connection started: whatever the caller loads next fills the time
 * the mail server takes to answer.
 */
export async function openForReading(ctx: MailboxContext): Promise<MailboxOpening> {
  const access = checkAccess(ctx);
  // Never unhandled: the caller awaits `access` itself.
  access.catch(() => undefined);
  let early: Promise<Reader> | null = null;
  if (ctx.settings.receiving.useSSL) {
    // Let the check's connection and TLS hello go out before loading the reader (imapflow is the
    // longest load of the cycle); then start the session and let its hello go out too.
    await nextTurn();
    early = openReader(ctx, true);
    early.catch(() => undefined);
    await nextTurn();
  }
  return {
    access,
    reader: () => early ?? openReader(ctx, true),
    abandon: async () => {
      if (!early) return;
      const r = await early.catch(() => null);
      await r?.close();
    },
  };
}

/** A whole read, or one the session ended early: then what is known of the mailbox and why. */
export type WholeRead = { stats: ReadStats } | { exists: number; error: string };

/**
 * Read every message the cycle reads (IMAP: only the unseen ones when `unseenOnly`). When the
 * session ends early, the reader's own counts go with it: what is known is the size of the
 * mailbox when it was opened (IMAP; POP3 lists it inside the read) and the `judged` messages
 * handed to `onMessage` before the end.
 */
export async function readWhole(
  protocol: MailboxProtocol,
  reader: Reader,
  opts: { unseenOnly: boolean; onMessage: OnMessage; onProgress?: OnProgress; room?: OnRoom },
  judged: () => number,
): Promise<WholeRead> {
  try {
    // POP3 reads on whatever the output's reader does: a POP3 server locks the maildrop for the
    // session (RFC 1939 section 4), and Calendar Server's own poll would be refused while a pager
    // waited for a person. Its rows wait in memory instead (mailbox/keep-alive.ts).
    const stats =
      reader.info.protocol === 'imap'
        ? await (reader as ImapReader).read(opts)
        : await (reader as Pop3Reader).read({ onMessage: opts.onMessage, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    return { stats };
  } catch (err) {
    const n = judged();
    const exists = Math.max(reader.messagesAtOpen, n);
    return { exists, error: `the ${protocol === 'imap' ? 'IMAP' : 'POP3'} session ended early after ${n} message${n === 1 ? '' : 's'}: ${errorText(err)}` };
  }
}

/** An error's words, with its code when the words do not carry it (imapflow's NoConnection...). */
function errorText(err: unknown): string {
  const e = err as { message?: string; code?: string; responseText?: string };
  const text = e?.responseText ?? e?.message ?? String(err);
  return e?.code && !text.includes(e.code) ? `${text} (${e.code})` : text;
}
