/** The POP3 watcher of `send-test --wait-reply`: a session per look, UIDL, LIST, TOP, QUIT without DELE. */
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { needsBody } from '../imip/classify.js';
import { parseMessage } from '../imip/mime.js';
import { Redactor } from '../net/net-stage.js';
import { describeMailboxError } from './mailbox-error.js';
import { WHOLE_MESSAGE_LIMIT } from '../mailbox/types.js';
import type { MailboxWatcher, ReadMessage } from './watcher.js';

/** TOP line count that reads a whole (size-checked) message. */
const TOP_ALL_LINES = 10_000_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export class Pop3Watcher implements MailboxWatcher {
  readonly protocol = 'pop3' as const;
  readonly host: string;
  readonly port: number;
  tls: 'implicit' | 'starttls' | 'none' | 'unknown' = 'unknown';
  readonly method = 'POP3 sessions every 3 s: UIDL, LIST, TOP (no RETR), QUIT without DELE';
  private readonly known = new Set<string>();
  private readonly redactor: Redactor;

  constructor(
    private readonly receiving: ReceivingSettings,
    private readonly conn: ConnectOptions,
  ) {
    this.host = receiving.server.trim();
    this.port = receiving.port;
    this.redactor = new Redactor([receiving.password]);
  }

  private async session<T>(fn: (client: import('../clients/pop3/index.js').Pop3Client) => Promise<T>): Promise<T> {
    const { Pop3Client } = await import('../clients/pop3/index.js');
    const { pop3ClientOptions } = await import('../mailbox/pop3-reader.js');
    let client: import('../clients/pop3/index.js').Pop3Client | null = null;
    try {
      client = await Pop3Client.connect(pop3ClientOptions(this.receiving, this.conn));
      await client.login(this.receiving.username, this.receiving.password);
      if (this.tls === 'unknown') this.tls = this.receiving.useSSL ? 'implicit' : client.stlsUsed ? 'starttls' : 'none';
      const result = await fn(client);
      // RSET before QUIT: on QUIT alone Dovecot stores \Seen on every message retrieved.
      await client.endReadOnly();
      return result;
    } catch (e) {
      // Dropping the connection without QUIT: a POP3 server then forgets any DELE (there is none).
      client?.close();
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'pop3');
    }
  }

  async start(): Promise<void> {
    await this.session(async (c) => {
      for (const e of await c.uidl()) this.known.add(e.uid);
    });
  }

  async poll(): Promise<ReadMessage[]> {
    return this.session(async (c) => {
      const entries = (await c.uidl()).filter((e) => !this.known.has(e.uid));
      const out: ReadMessage[] = [];
      for (const e of entries) {
        const { size } = await c.listOne(e.n);
        const whole = size <= WHOLE_MESSAGE_LIMIT;
        const bytes = await c.top(e.n, whole ? TOP_ALL_LINES : 0);
        const parsed = parseMessage(bytes, needsBody);
        if (!whole) parsed.problems.push(`message of ${size} bytes: only its header was read (TOP 0); calendar checks skipped`);
        out.push({ id: e.uid, input: parsed, size });
        this.known.add(e.uid);
      }
      return out;
    });
  }

  pause(ms: number): Promise<void> {
    return sleep(ms);
  }

  async close(): Promise<void> {
    // Every session already ended with QUIT.
  }
}
