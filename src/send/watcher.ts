/** What a mailbox watcher delivers and promises (shared by the IMAP and POP3 watchers). */
import type { MailboxProtocol } from '../config/settings.js';
import type { MessageInput } from '../imip/classify.js';

/** A message as read from the mailbox (nothing changed on the server). */
export interface ReadMessage {
  /** IMAP UID or POP3 UIDL. */
  id: string;
  input: MessageInput;
  /** IMAP `\Seen`; undefined for POP3. */
  seen?: boolean;
  size: number;
}

export interface MailboxWatcher {
  readonly protocol: MailboxProtocol;
  readonly host: string;
  readonly port: number;
  /** `implicit` (UseSSL true), `starttls` (upgraded), `none`. Known after start(). */
  readonly tls: 'implicit' | 'starttls' | 'none' | 'unknown';
  /** How it reads, for the output. */
  readonly method: string;
  /** Connect, log in, and remember what is already there. */
  start(): Promise<void>;
  /** Messages that arrived since start() and were not returned before. */
  poll(): Promise<ReadMessage[]>;
  /** Sleep up to `ms`, or less when the server announces new mail. */
  pause(ms: number): Promise<void>;
  close(): Promise<void>;
}

