// The anchor of the poll rows: the plain way to read a whole mailbox over one connection.
// IMAP: one `UID FETCH 1:* BODY.PEEK[]` (imapflow); POP3: RETR of every message, pipelined (the
// project's POP3 client). Prints the messages and bytes read. Argument: JSON {protocol, host, port, ca, user}.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { protocol, host, port, ca, user } = JSON.parse(process.argv[2]);
const caPem = readFileSync(ca, 'utf8');
let messages = 0;
let bytes = 0;
if (protocol === 'imap') {
  const { ImapFlow } = await import(path.join(ROOT, 'node_modules/imapflow/dist/esm/imap-flow.js'));
  const c = new ImapFlow({ host, port, secure: true, tls: { ca: [caPem] }, auth: { user: user.address, pass: user.password }, logger: false, disableAutoIdle: true });
  c.on('error', () => undefined);
  await c.connect();
  await c.mailboxOpen('INBOX', { readOnly: true });
  for await (const m of c.fetch('1:*', { uid: true, source: true }, { uid: true })) {
    messages++;
    bytes += m.source.length;
  }
  await c.logout();
} else {
  const { Pop3Client } = await import(path.join(ROOT, 'dist/clients/pop3/index.js'));
  const c = await Pop3Client.connect({ host, port, implicitTls: true, ca: caPem, rejectUnauthorized: true, timeoutMs: 120000 });
  await c.login(user.address, user.password);
  const list = await c.list();
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const e = list[next++];
      await c.retr(e.n, (chunk) => (bytes += chunk.length));
      messages++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  await c.quit();
}
process.stdout.write(JSON.stringify({ messages, bytes }));
