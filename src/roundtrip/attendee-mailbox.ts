/**
 * The attendee's mailbox in the round trip: wait, bounded, for the test invitation (found by its
 * Message-ID), read it with BODY.PEEK, and afterwards remove exactly what the run created there:
 * `UID STORE +FLAGS (\Deleted)` then `UID EXPUNGE <uid>` (UIDPLUS). Without UIDPLUS the message is
 * left flagged \Deleted and the report says so: a bare EXPUNGE would also remove other messages
 * someone flagged.
 */
import type { ConnectOptions } from '../config/settings.js';
import { imapFlowOptions } from '../mailbox/imap-reader.js';
import { Redactor } from '../net/net-stage.js';
import type { AccountEndpoint } from './account.js';

export interface FoundMessage {
  uid: number;
  raw: Buffer;
}

export class AttendeeMailboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttendeeMailboxError';
  }
}

interface ImapLike {
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  connect(): Promise<void>;
  mailboxOpen(path: string): Promise<unknown>;
  search(q: Record<string, unknown>, o: { uid: boolean }): Promise<number[] | false>;
  fetchOne(seq: string, q: Record<string, unknown>, o: { uid: boolean }): Promise<Record<string, unknown> | false>;
  messageFlagsAdd(range: string, flags: string[], o: { uid: boolean }): Promise<boolean>;
  messageDelete(range: string, o: { uid: boolean }): Promise<boolean>;
  noop(): Promise<void>;
  logout(): Promise<void>;
  close(): void;
  capabilities: Map<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Sleep, cut short when the signal is aborted. */
function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleep(ms);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

export class AttendeeMailbox {
  private client: ImapLike | null = null;
  private readonly redactor: Redactor;

  constructor(
    private readonly endpoint: AccountEndpoint,
    private readonly password: string,
    private readonly conn: ConnectOptions,
  ) {
    this.redactor = new Redactor([password]);
  }

  private where(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** Connect, log in, open INBOX. */
  async open(): Promise<void> {
    const { ImapFlow } = await import('../mailbox/imapflow-module.js');
    const options = imapFlowOptions(
      { server: this.endpoint.host, port: this.endpoint.port, useSSL: this.endpoint.tls === 'implicit', type: 'imap', protocol: 'imap', username: this.endpoint.username, password: this.password, pollingSeconds: 0 },
      this.conn,
    );
    // The attendee account is ours to protect: STARTTLS is required on imap://.
    const client = new ImapFlow({ ...options, ...(this.endpoint.tls === 'starttls' ? { doSTARTTLS: true } : {}) }) as unknown as ImapLike;
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.mailboxOpen('INBOX');
    } catch (e) {
      try {
        client.close();
      } catch {
        // closed
      }
      const err = e as Error & { responseText?: string; authenticationFailed?: boolean };
      const text = this.redactor.text([err.message, err.responseText].filter(Boolean).join(': ') || String(e));
      throw new AttendeeMailboxError(err.authenticationFailed ? `IMAP ${this.where()} refused the login as "${this.endpoint.username}": ${text}` : `IMAP ${this.where()}: ${text}`);
    }
    this.client = client;
  }

  /** Wait until a message with this Message-ID is in INBOX, or the deadline passes or the signal is aborted (null). */
  async waitFor(messageId: string, deadline: number, intervalMs = 1000, signal?: AbortSignal): Promise<FoundMessage | null> {
    const client = this.client;
    if (!client) throw new AttendeeMailboxError('the attendee mailbox is not open');
    const bare = messageId.replace(/^<|>$/g, '');
    const look = async (): Promise<FoundMessage | null> => {
      await client.noop();
      const found = (await client.search({ header: { 'message-id': bare } }, { uid: true })) || [];
      const uid = found[0];
      if (uid === undefined) return null;
      const m = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
      return m && Buffer.isBuffer(m.source) ? { uid, raw: m.source } : null;
    };
    // A signal does not wait for a look under way (a server that went silent): the cleanup's own
    // look, bounded by its time limit, comes after it.
    const stopped = signal ? new Promise<'stopped'>((resolve) => (signal.aborted ? resolve('stopped') : signal.addEventListener('abort', () => resolve('stopped'), { once: true }))) : null;
    for (;;) {
      try {
        const looking = look();
        const got = stopped ? await Promise.race([looking, stopped]) : await looking;
        if (got === 'stopped') {
          looking.catch(() => undefined);
          return null;
        }
        if (got) return got;
      } catch (e) {
        throw new AttendeeMailboxError(`reading IMAP ${this.where()} failed: ${this.redactor.text((e as Error).message)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return null;
      await sleepUnless(Math.min(intervalMs, left), signal);
      if (signal?.aborted) return null;
    }
  }

  /** Remove exactly these messages; says how. */
  async remove(uids: number[]): Promise<{ removed: 'expunged' | 'flagged-deleted' | 'not-removed'; note?: string }> {
    const client = this.client;
    if (!client || uids.length === 0) return { removed: 'not-removed', note: 'nothing to remove' };
    const range = uids.join(',');
    try {
      if (client.capabilities?.has('UIDPLUS')) {
        // imapflow's messageDelete with UIDPLUS: UID STORE +FLAGS (\Deleted), UID EXPUNGE <uids>.
        await client.messageDelete(range, { uid: true });
        return { removed: 'expunged' };
      }
      await client.messageFlagsAdd(range, ['\\Deleted'], { uid: true });
      return { removed: 'flagged-deleted', note: 'the server has no UIDPLUS: the invitation is flagged \\Deleted, not expunged (a bare EXPUNGE would remove other flagged messages too)' };
    } catch (e) {
      return { removed: 'not-removed', note: this.redactor.text((e as Error).message) };
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    try {
      await Promise.race([client.logout(), sleep(2000)]);
    } catch {
      // closing anyway
    }
    try {
      client.close();
    } catch {
      // closed
    }
  }
}
