/**
 * What a mailbox reader hands to its caller: one message's place, size, flags, headers and the
 * bodies a verdict needs, plus what the reader did. The readers (IMAP, POP3) implement this;
 * `poll` and `diagnose` consume it. Nothing here imports an upper layer.
 */
import type { MailboxProtocol } from '../config/settings.js';
import type { MessageInput } from '../imip/classify.js';

/**
 * Messages up to this size are read whole and parsed by the tool, as Calendar Server reads every
 * message (it fetches RFC822 and hands it to Python's `email` package). Larger ones are read by
 * header, structure and only the parts a verdict needs, so that a big attachment never crosses
 * the wire: their verdict rests on the IMAP server's own parse of the MIME structure, which can
 * differ from Python's on malformed mail.
 */
export const WHOLE_MESSAGE_LIMIT = 5 * 1024 * 1024;

/**
 * A larger message is read whole only where its structure cannot be trusted (cut short, or read
 * otherwise by Python), and never past this size: then it is judged on its structure, and a
 * problem says so.
 */
export const WHOLE_READ_MAX_BYTES = 64 * 1024 * 1024;

/** Where a message sits in the mailbox. */
export interface MessageRef {
  /** IMAP UID. */
  uid?: number;
  /** POP3 message number (this session). */
  number?: number;
  /** POP3 UIDL, when the server has it. */
  uidl?: string | null;
}

/** One message as a reader hands it over: headers, structure, the bodies the verdict needs. */
export interface ReadMessage {
  ref: MessageRef;
  /** Octets (RFC822.SIZE or LIST). */
  size: number;
  /** IMAP `\Seen`; undefined for POP3. */
  seen?: boolean;
  /** IMAP keywords the poll cares about (`$ImipClaimed`). */
  claimed?: boolean;
  /** IMAP MODSEQ as a decimal string (CONDSTORE). */
  modseq?: string;
  /**
   * IMAP: read whole and parsed by the tool ({@link WHOLE_MESSAGE_LIMIT}), so its part numbers
   * are the parser's, not the IMAP server's: a later read of its parts reads it whole again.
   */
  whole?: boolean;
  input: MessageInput;
}

export interface ReaderInfo {
  protocol: MailboxProtocol;
  server: string;
  port: number;
  username: string;
  /** `implicit`, `starttls`, `stls`, `apop` or `none`. */
  tls: string;
  /** The TLS version the session negotiated (`TLSv1`, `TLSv1.3`), when it uses TLS. */
  tlsVersion?: string;
  /** IMAP EXAMINE (true) or SELECT; POP3: true unless DELE may be sent. */
  readOnly: boolean;
  /** What the reader asked the server, in words (for --verbose). */
  commands: string[];
}

export interface ReadStats {
  /** Messages in the mailbox when the cycle started. */
  exists: number;
  /** Messages the release reads (all, or UNSEEN). */
  selected: number;
  /** IMAP 5.1+: messages left out because they are \Seen. */
  seenSkipped: number;
  /** Messages that disappeared between the listing and the read. */
  vanished: number;
  /** Octets received and sent on the mailbox connection. */
  bytesIn: number;
  bytesOut: number;
  /** Round trips for reading (IMAP commands, POP3 pipelined batches count once). */
  roundTrips: number;
}

export type OnMessage = (m: ReadMessage) => void;
export type OnProgress = (done: number, total: number) => void;
/**
 * Back-pressure from whoever takes the rows: asked before the reader asks the server for more
 * messages. A promise means "not yet": nothing more is asked for until it settles, and the
 * session is kept alive meanwhile (./keep-alive.ts). Null: go on.
 */
export type OnRoom = () => Promise<void> | null;

