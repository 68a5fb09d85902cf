/** The IMAP watcher of `send-test --wait-reply`: EXAMINE INBOX, BODY.PEEK, IDLE when offered. */
import type { Readable } from 'node:stream';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { needsBody, neededParts } from '../imip/classify.js';
import { fromBodyStructure, imapDownloadPart, MAX_BODY_BYTES, parseHeaderBlock, parseMessage, type ImapBodyStructure } from '../imip/mime.js';
import { headerBytesToString } from '../imip/mime-headers.js';
import { Redactor } from '../net/net-stage.js';
import { describeMailboxError } from './mailbox-error.js';
import { WHOLE_MESSAGE_LIMIT, type MailboxWatcher, type ReadMessage } from './watcher.js';

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

  private async open(): Promise<ImapFlowLike> {
    const { ImapFlow } = await import('imapflow');
    const { imapFlowOptions } = await import('../mailbox/imap-reader.js');
    const client = new ImapFlow(imapFlowOptions(this.receiving, this.conn)) as unknown as ImapFlowLike;
    client.on('error', () => undefined);
    client.on('exists', () => this.wake?.());
    try {
      await client.connect();
      const box = await client.mailboxOpen('INBOX', { readOnly: true });
      if (this.tls === 'unknown') this.tls = this.receiving.useSSL ? 'implicit' : client.secureConnection ? 'starttls' : 'none';
      if (this.next === 1) {
        this.next = Number(box.uidNext) || 0;
        if (!this.next) {
          // No UIDNEXT from the server: start after the highest UID there is.
          const all = (await client.search({ all: true }, { uid: true })) || [];
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
    return client;
  }

  async start(): Promise<void> {
    this.client = await this.open();
  }

  private async readOne(client: ImapFlowLike, uid: number): Promise<ReadMessage | null> {
    const meta = await client.fetchOne(String(uid), { uid: true, flags: true, size: true }, { uid: true });
    if (!meta) return null;
    const size = Number(meta.size) || 0;
    const flags = meta.flags instanceof Set ? (meta.flags as Set<string>) : new Set<string>();
    const seen = flags.has('\\Seen');
    if (size <= WHOLE_MESSAGE_LIMIT) {
      const m = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
      if (!m || !Buffer.isBuffer(m.source)) return null;
      const parsed = parseMessage(m.source, needsBody);
      return { id: String(uid), input: parsed, seen, size };
    }
    // A large message: header, structure, and only the parts a verdict needs.
    const m = await client.fetchOne(String(uid), { uid: true, headers: true, bodyStructure: true }, { uid: true });
    if (!m || !m.bodyStructure) return null;
    const problems: string[] = [];
    const headers = parseHeaderBlock(headerBytesToString(Buffer.isBuffer(m.headers) ? m.headers : Buffer.alloc(0)), problems);
    const root = fromBodyStructure(m.bodyStructure as ImapBodyStructure);
    const bodies = new Map<string, Buffer>();
    for (const part of neededParts(root)) {
      const d = await client.download(String(uid), imapDownloadPart(part), { uid: true, decodeText: false });
      bodies.set(part, await readCapped(d.content, MAX_BODY_BYTES));
    }
    return { id: String(uid), input: { headers, root, bodies, problems }, seen, size };
  }

  async poll(): Promise<ReadMessage[]> {
    if (!this.client || this.client.usable === false) this.client = await this.open();
    const client = this.client;
    try {
      const found = (await client.search({ uid: `${this.next}:*` }, { uid: true })) || [];
      const fresh = found.filter((u) => u >= this.next).sort((a, b) => a - b);
      const out: ReadMessage[] = [];
      for (const uid of fresh) {
        const m = await this.readOne(client, uid);
        if (m) out.push(m);
        this.next = Math.max(this.next, uid + 1);
      }
      return out;
    } catch (e) {
      this.client = null;
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
