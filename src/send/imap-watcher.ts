/** The IMAP watcher of `send-test --wait-reply`: EXAMINE INBOX, BODY.PEEK, IDLE when offered. */
import type { Readable } from 'node:stream';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { needsBody, neededParts } from '../imip/classify.js';
import { fromBodyStructure, imapDownloadPart, MAX_BODY_BYTES, parseHeaderBlock, parseMessage, type ImapBodyStructure } from '../imip/mime.js';
import { headerBytesToString } from '../imip/mime-headers.js';
import { headerBlocksOf, headerSections, structureDisagreement } from '../imip/structure-agreement.js';
import type { ImapDeadline } from '../mailbox/imap-deadline.js';
import { Redactor } from '../net/net-stage.js';
import { describeMailboxError } from './mailbox-error.js';
import { WHOLE_MESSAGE_LIMIT, WHOLE_READ_MAX_BYTES } from '../mailbox/types.js';
import type { MailboxWatcher, ReadMessage } from './watcher.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function readCapped(stream: Readable, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    if (n < cap) chunks.push(b.subarray(0, cap - n));
    n += b.length;
  }
  return Buffer.concat(chunks);
}

interface ImapFlowLike {
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  removeListener(event: string, fn: (...args: unknown[]) => void): unknown;
  connect(): Promise<void>;
  mailboxOpen(path: string, opts: { readOnly: boolean }): Promise<{ uidNext: number; exists: number; readOnly?: boolean }>;
  search(q: Record<string, unknown>, o: { uid: boolean }): Promise<number[] | false>;
  fetchOne(seq: string, q: Record<string, unknown>, o: { uid: boolean }): Promise<Record<string, unknown> | false>;
  download(range: string, part: string, o: { uid: boolean; decodeText?: boolean }): Promise<{ content: Readable }>;
  idle(): Promise<unknown>;
  noop(): Promise<void>;
  logout(): Promise<void>;
  close(): void;
  capabilities: Map<string, unknown>;
  secureConnection?: boolean;
  usable?: boolean;
}

export class ImapWatcher implements MailboxWatcher {
  readonly protocol = 'imap' as const;
  readonly host: string;
  readonly port: number;
  tls: 'implicit' | 'starttls' | 'none' | 'unknown' = 'unknown';
  readonly method = 'IMAP EXAMINE INBOX (read-only), BODY.PEEK; IDLE, else polling every 2 s';
  private client: ImapFlowLike | null = null;
  /** The step clock of the open session (../mailbox/imap-deadline.ts, as the poll's reader uses it). */
  private deadline: ImapDeadline | null = null;
  private next = 1;
  private readonly redactor: Redactor;
  private wake: (() => void) | null = null;

  constructor(
    private readonly receiving: ReceivingSettings,
    private readonly conn: ConnectOptions,
  ) {
    this.host = receiving.server.trim();
    this.port = receiving.port;
    this.redactor = new Redactor([receiving.password]);
  }

  private async open(): Promise<{ client: ImapFlowLike; deadline: ImapDeadline }> {
    const { ImapFlow } = await import('../mailbox/imapflow-module.js');
    const { imapFlowOptions } = await import('../mailbox/imap-reader.js');
    const { ImapDeadline } = await import('../mailbox/imap-deadline.js');
    const deadline = new ImapDeadline(this.conn.timeoutMs, this.receiving.useSSL);
    const flow = new ImapFlow({ ...imapFlowOptions(this.receiving, this.conn), logger: deadline.logger });
    deadline.attach(flow);
    const client = flow as unknown as ImapFlowLike;
    client.on('error', () => undefined);
    client.on('exists', () => this.wake?.());
    try {
      await deadline.step(undefined, () => client.connect());
      const box = await deadline.step('EXAMINE', () => client.mailboxOpen('INBOX', { readOnly: true }));
      if (this.tls === 'unknown') this.tls = this.receiving.useSSL ? 'implicit' : client.secureConnection ? 'starttls' : 'none';
      if (this.next === 1) {
        this.next = Number(box.uidNext) || 0;
        if (!this.next) {
          // No UIDNEXT from the server: start after the highest UID there is.
          const all = (await deadline.step('UID SEARCH', () => client.search({ all: true }, { uid: true }))) || [];
          this.next = all.length ? Math.max(...all) + 1 : 1;
        }
      }
    } catch (e) {
      try {
        client.close();
      } catch {
        // already closed
      }
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'imap');
    }
    return { client, deadline };
  }

  private async reopen(): Promise<void> {
    const { client, deadline } = await this.open();
    this.client = client;
    this.deadline = deadline;
  }

  async start(): Promise<void> {
    await this.reopen();
  }

  private async readOne(client: ImapFlowLike, deadline: ImapDeadline, uid: number): Promise<ReadMessage | null> {
    const fetchOne = (q: Record<string, unknown>): Promise<Record<string, unknown> | false> => deadline.step('UID FETCH', () => client.fetchOne(String(uid), q, { uid: true }));
    const meta = await fetchOne({ uid: true, flags: true, size: true });
    if (!meta) return null;
    const size = Number(meta.size) || 0;
    const flags = meta.flags instanceof Set ? (meta.flags as Set<string>) : new Set<string>();
    const seen = flags.has('\\Seen');
    if (size <= WHOLE_MESSAGE_LIMIT) {
      const m = await fetchOne({ uid: true, source: true });
      if (!m || !Buffer.isBuffer(m.source)) return null;
      const parsed = parseMessage(m.source, needsBody);
      return { id: String(uid), input: parsed, seen, size };
    }
    // A large message: header, structure, and only the parts a verdict needs.
    const m = await fetchOne({ uid: true, headers: true, bodyStructure: true });
    if (!m || !m.bodyStructure) return null;
    const problems: string[] = [];
    const headers = parseHeaderBlock(headerBytesToString(Buffer.isBuffer(m.headers) ? m.headers : Buffer.alloc(0)), problems);
    const root = fromBodyStructure(m.bodyStructure as ImapBodyStructure);
    // As the poll does: where Python reads a header block otherwise than the structure says, the
    // message is read whole after all (structure-agreement.ts).
    const sections = headerSections(root);
    const blocks = await fetchOne({ uid: true, bodyParts: sections.map((h) => h.section) });
    const fetched = headerBlocksOf(blocks && blocks.bodyParts instanceof Map ? (blocks.bodyParts as Map<string, Buffer>) : []);
    if (structureDisagreement(sections, fetched) && size <= WHOLE_READ_MAX_BYTES) {
      const whole = await fetchOne({ uid: true, source: true });
      if (!whole || !Buffer.isBuffer(whole.source)) return null;
      return { id: String(uid), input: parseMessage(whole.source, needsBody), seen, size };
    }
    const bodies = new Map<string, Buffer>();
    for (const part of neededParts(root)) {
      const body = await deadline.step('UID FETCH', async () => {
        const d = await client.download(String(uid), imapDownloadPart(part), { uid: true, decodeText: false });
        return readCapped(d.content, MAX_BODY_BYTES);
      });
      bodies.set(part, body);
    }
    return { id: String(uid), input: { headers, root, bodies, problems }, seen, size };
  }

  async poll(): Promise<ReadMessage[]> {
    if (!this.client || !this.deadline || this.client.usable === false) await this.reopen();
    const client = this.client!;
    const deadline = this.deadline!;
    try {
      const found = (await deadline.step('UID SEARCH', () => client.search({ uid: `${this.next}:*` }, { uid: true }))) || [];
      const fresh = found.filter((u) => u >= this.next).sort((a, b) => a - b);
      const out: ReadMessage[] = [];
      for (const uid of fresh) {
        const m = await this.readOne(client, deadline, uid);
        if (m) out.push(m);
        this.next = Math.max(this.next, uid + 1);
      }
      return out;
    } catch (e) {
      this.client = null;
      this.deadline = null;
      try {
        client.close();
      } catch {
        // gone already
      }
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'imap');
    }
  }

  async pause(ms: number): Promise<void> {
    const client = this.client;
    if (!client || ms <= 0) return sleep(ms);
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    if (client.capabilities?.has('IDLE')) {
      // IDLE until new mail or the timer; the next command (SEARCH) ends it.
      client.idle().catch(() => undefined);
    }
    await woken;
    this.wake = null;
    if (timer) clearTimeout(timer);
  }

  async close(): Promise<void> {
    const client = this.client;
    const deadline = this.deadline;
    this.client = null;
    this.deadline = null;
    if (!client) return;
    try {
      if (deadline && !deadline.timedOut) await deadline.step('LOGOUT', () => client.logout());
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
