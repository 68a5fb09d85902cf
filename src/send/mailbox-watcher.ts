/**
 * Watching the receiving mailbox, read-only, for new messages: the interface and the factory that
 * picks the watcher for the configured protocol.
 *
 * Reading never changes the mailbox: IMAP opens INBOX with EXAMINE and fetches with BODY.PEEK
 * (imapflow's `source`, `bodyParts` and `download` all PEEK), never STORE/EXPUNGE; POP3 reads with
 * TOP (Dovecot and others mark RETR'd messages as read) and ends every session with QUIT and no
 * DELE. Only messages that arrived after the watch began are returned.
 */
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { MailboxError } from './mailbox-error.js';
import { ImapWatcher } from './imap-watcher.js';
import { Pop3Watcher } from './pop3-watcher.js';
import type { MailboxWatcher } from './watcher.js';

export type { MailboxWatcher, ReadMessage } from './watcher.js';


/** The watcher for the configured protocol (the server's reading of Receiving.Type). */
export function mailboxWatcher(receiving: ReceivingSettings, conn: ConnectOptions): MailboxWatcher {
  if (receiving.protocol === 'pop3') return new Pop3Watcher(receiving, conn);
  if (receiving.protocol === 'imap') return new ImapWatcher(receiving, conn);
  throw new MailboxError(
    'type',
    `Receiving.Type "${receiving.type}" is neither pop* nor imap*: this release starts no mail reader at all`,
    'Set Scheduling.iMIP.Receiving.Type to "imap" or "pop".',
  );
}
