/** The two mailbox protocols the server's gateway can poll (`Receiving.Type` starting with `pop` or, otherwise, `imap`). */
export type MailboxProtocol = 'imap' | 'pop3';
