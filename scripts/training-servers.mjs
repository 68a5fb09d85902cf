// Mail servers for the code-cache training (scripts/code-cache.mjs), and for nothing else: on
// 127.0.0.1, on ports the system picks, in clear text and (given a key and certificate) with TLS
// from the first byte, each answering the commands `test-smtp` and `test-mailbox` send with fixed
// answers of the shape Postfix and Dovecot give. They let the training run those commands through
// every stage, so that V8 compiles what a connected command
// runs (the SMTP, POP3 and IMAP dialogues, imapflow's parser, the sample's readers) and the caches
// hold it. They check nothing: the test suite runs the commands against a real Postfix and Dovecot.
import net from 'node:net';
import tls from 'node:tls';

const CRLF = '\r\n';
const TOKEN = '6f1c2a3b-4004-4c5d-9e8f-000000000005';
const CALENDAR = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//Example//Training//EN',
  'METHOD:REPLY',
  'BEGIN:VEVENT',
  `UID:${TOKEN.toUpperCase()}`,
  'DTSTAMP:20260302T100000Z',
  'DTSTART:20260305T100000Z',
  `ORGANIZER:mailto:calendar+${TOKEN}@example.com`,
  'ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@example.org',
  'END:VEVENT',
  'END:VCALENDAR',
].join(CRLF);
const address = (name, mailbox, host) => `(${name ? `"${name}"` : 'NIL'} NIL "${mailbox}" "${host}")`;
const envelope = (subject, from, to, id) => `("Mon, 2 Mar 2026 10:00:00 +0000" "${subject}" (${from}) (${from}) (${from}) (${to}) NIL NIL NIL "<${id}@example.org>")`;
const textPart = (subtype, params, body) => `("text" "${subtype}" (${params}) NIL NIL "7bit" ${Buffer.byteLength(body)} ${body.split(CRLF).length} NIL NIL NIL NIL)`;

/**
 * The mailbox: what a receiving account of Calendar Server holds, one of each kind the sample
 * tells apart (an iMIP reply, a bounce, a person's mail, a newsletter). Each with its header
 * fields, its body, and its ENVELOPE and BODYSTRUCTURE as Dovecot writes them.
 */
const MAILBOX = [
  {
    head: [
      'Return-Path: <attendee@example.org>',
      'Message-ID: <training-1@example.org>',
      'Date: Mon, 2 Mar 2026 10:00:00 +0000',
      'From: Attendee <attendee@example.org>',
      `To: calendar+${TOKEN}@example.com`,
      'Subject: Accepted: Training',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"',
    ],
    body: ['', '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Accepted.', '--b1', 'Content-Type: text/calendar; charset=utf-8; method=REPLY', '', CALENDAR, '--b1--', ''].join(CRLF),
    envelope: envelope('Accepted: Training', address('Attendee', 'attendee', 'example.org'), address(null, `calendar+${TOKEN}`, 'example.com'), 'training-1'),
    structure: `(${textPart('plain', '"charset" "utf-8"', 'Accepted.')}${textPart('calendar', '"charset" "utf-8" "method" "REPLY"', CALENDAR + CRLF)} "alternative" ("boundary" "b1") NIL NIL NIL)`,
  },
  {
    head: [
      'Return-Path: <>',
      'Message-ID: <training-2@example.org>',
      'Date: Mon, 2 Mar 2026 10:00:00 +0000',
      'From: MAILER-DAEMON@example.com (Mail Delivery System)',
      'To: calendar@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b2"',
    ],
    body: ['', '--b2', 'Content-Type: text/plain; charset=us-ascii', '', 'The message could not be delivered.', '--b2', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; example.com', '', 'Final-Recipient: rfc822; gone@example.org', 'Action: failed', 'Status: 5.1.1', '--b2--', ''].join(CRLF),
    envelope: envelope('Undelivered Mail Returned to Sender', address('Mail Delivery System', 'MAILER-DAEMON', 'example.com'), address(null, 'calendar', 'example.com'), 'training-2'),
    structure: `(${textPart('plain', '"charset" "us-ascii"', 'The message could not be delivered.')}("message" "delivery-status" NIL NIL NIL "7bit" 107 NIL NIL NIL NIL) "report" ("report-type" "delivery-status" "boundary" "b2") NIL NIL NIL)`,
  },
  {
    head: ['Return-Path: <colleague@example.com>', 'Message-ID: <training-3@example.org>', 'Date: Mon, 2 Mar 2026 10:00:00 +0000', 'From: A Colleague <colleague@example.com>', 'To: calendar@example.com', 'Subject: Lunch?', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'],
    body: ['', 'Lunch at noon?', ''].join(CRLF),
    envelope: envelope('Lunch?', address('A Colleague', 'colleague', 'example.com'), address(null, 'calendar', 'example.com'), 'training-3'),
    structure: textPart('plain', '"charset" "utf-8"', 'Lunch at noon?' + CRLF),
  },
  {
    head: [
      'Return-Path: <news@lists.example.net>',
      'Message-ID: <training-4@example.org>',
      'Date: Mon, 2 Mar 2026 10:00:00 +0000',
      'From: News <news@lists.example.net>',
      'To: calendar@example.com',
      'Subject: This week',
      'List-Unsubscribe: <mailto:leave@lists.example.net>',
      'Precedence: bulk',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
    ],
    body: ['', 'This week.', ''].join(CRLF),
    envelope: envelope('This week', address('News', 'news', 'lists.example.net'), address(null, 'calendar', 'example.com'), 'training-4'),
    structure: textPart('plain', '"charset" "utf-8"', 'This week.' + CRLF),
  },
].map((m) => ({ ...m, raw: m.head.join(CRLF) + CRLF + m.body }));
const MESSAGES = MAILBOX.length;

/** Read CRLF lines from a socket and hand each to `onLine`; returns a function that stops reading. */
function lines(socket, onLine) {
  let buf = '';
  let reading = true;
  const onData = (d) => {
    buf += d.toString('latin1');
    for (let nl = buf.indexOf('\n'); reading && nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  return () => {
    reading = false;
    socket.removeListener('data', onData);
  };
}

/** The header fields of `m` named in `BODY.PEEK[HEADER.FIELDS (A B)]`, as IMAP returns them. */
function headerFields(m, names) {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  return m.head.filter((l) => wanted.has(l.slice(0, l.indexOf(':')).toLowerCase())).join(CRLF) + CRLF + CRLF;
}

function imap(socket) {
  const caps = 'IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN';
  const say = (s) => socket.write(s + CRLF);
  let continuation = null;
  say(`* OK [CAPABILITY ${caps}] training ready.`);
  lines(socket, (line) => {
    if (continuation) {
      const done = continuation;
      continuation = null;
      done(line);
      return;
    }
    const [tag, verb0 = '', ...rest] = line.split(' ');
    let verb = verb0.toUpperCase();
    let args = rest.join(' ');
    if (verb === 'UID') {
      verb = (rest[0] ?? '').toUpperCase();
      args = rest.slice(1).join(' ');
    }
    switch (verb) {
      case 'CAPABILITY':
        say(`* CAPABILITY ${caps}`);
        return say(`${tag} OK CAPABILITY completed.`);
      case 'AUTHENTICATE':
        if (rest.length > 1) return say(`${tag} OK [CAPABILITY ${caps}] Logged in`);
        continuation = () => say(`${tag} OK [CAPABILITY ${caps}] Logged in`);
        return say('+ ');
      case 'LOGIN':
        return say(`${tag} OK [CAPABILITY ${caps}] Logged in`);
      case 'ID':
        say('* ID ("name" "training")');
        return say(`${tag} OK ID completed.`);
      case 'ENABLE':
        say('* ENABLED');
        return say(`${tag} OK Enabled.`);
      case 'NAMESPACE':
        say('* NAMESPACE (("" "/")) NIL NIL');
        return say(`${tag} OK Namespace completed.`);
      case 'LIST':
      case 'LSUB':
        say(`* ${verb} (\\HasNoChildren) "/" INBOX`);
        return say(`${tag} OK ${verb} completed.`);
      case 'SELECT':
      case 'EXAMINE':
        say('* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)');
        say('* OK [PERMANENTFLAGS ()] Read-only mailbox.');
        say(`* ${MESSAGES} EXISTS`);
        say('* 0 RECENT');
        say('* OK [UNSEEN 1] First unseen.');
        say('* OK [UIDVALIDITY 1700000000] UIDs valid');
        say(`* OK [UIDNEXT ${MESSAGES + 1}] Predicted next UID`);
        return say(`${tag} OK [${verb === 'EXAMINE' ? 'READ-ONLY' : 'READ-WRITE'}] ${verb} completed.`);
      case 'STATUS':
        say(`* STATUS INBOX (MESSAGES ${MESSAGES} UNSEEN ${MESSAGES} UIDNEXT ${MESSAGES + 1} UIDVALIDITY 1700000000)`);
        return say(`${tag} OK Status completed.`);
      case 'SEARCH':
        say(`* SEARCH ${Array.from({ length: MESSAGES }, (_, i) => i + 1).join(' ')}`);
        return say(`${tag} OK Search completed.`);
      case 'FETCH': {
        const section = /BODY\.PEEK\[HEADER\.FIELDS \(([^)]*)\)\]/i.exec(args);
        for (let n = 1; n <= MESSAGES; n++) {
          const m = MAILBOX[n - 1];
          const items = [`UID ${n}`, 'FLAGS ()', `RFC822.SIZE ${m.raw.length}`];
          if (/ENVELOPE/i.test(args)) items.push(`ENVELOPE ${m.envelope}`);
          if (/BODYSTRUCTURE/i.test(args)) items.push(`BODYSTRUCTURE ${m.structure}`);
          let literal = '';
          if (section) {
            literal = headerFields(m, section[1].split(' '));
            items.push(`BODY[HEADER.FIELDS (${section[1]})] {${Buffer.byteLength(literal)}}`);
          }
          socket.write(`* ${n} FETCH (${items.join(' ')}${section ? CRLF + literal : ''})${CRLF}`);
        }
        return say(`${tag} OK Fetch completed.`);
      }
      case 'NOOP':
      case 'CLOSE':
      case 'UNSELECT':
        return say(`${tag} OK ${verb} completed.`);
      case 'LOGOUT':
        say('* BYE Logging out');
        say(`${tag} OK Logout completed.`);
        return socket.end();
      default:
        return say(`${tag} BAD Error in IMAP command ${verb}: Unknown command.`);
    }
  });
}

/** RFC 1939 multi-line answer: the lines, dot-stuffed, then ".". */
const multiline = (text) =>
  text
    .split(CRLF)
    .map((l) => (l.startsWith('.') ? `.${l}` : l))
    .join(CRLF) + `${CRLF}.${CRLF}`;

function pop3(socket) {
  const say = (s) => socket.write(s + CRLF);
  const size = (i) => Buffer.byteLength(MAILBOX[i - 1].raw);
  // With a challenge, the server's POP3 client logs in with APOP, as it does on a clear connection.
  say('+OK training ready. <1896.697170952@training.invalid>');
  lines(socket, (line) => {
    const [verb0 = '', ...args] = line.split(' ');
    const verb = verb0.toUpperCase();
    const n = Number(args[0]);
    const known = n >= 1 && n <= MESSAGES;
    switch (verb) {
      case 'CAPA':
        return socket.write(`+OK${CRLF}${multiline('TOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\nRESP-CODES\r\nAUTH-RESP-CODE')}`);
      case 'APOP':
      case 'USER':
      case 'PASS':
        return say('+OK Logged in.');
      case 'STAT':
        return say(`+OK ${MESSAGES} ${MAILBOX.reduce((t, m) => t + Buffer.byteLength(m.raw), 0)}`);
      case 'LIST':
      case 'UIDL': {
        const row = (i) => `${i} ${verb === 'LIST' ? size(i) : `training-${i}`}`;
        if (args.length) return say(known ? `+OK ${row(n)}` : '-ERR There is no message');
        return socket.write(`+OK${CRLF}${multiline(Array.from({ length: MESSAGES }, (_, i) => row(i + 1)).join(CRLF))}`);
      }
      case 'TOP':
      case 'RETR': {
        if (!known) return say('-ERR There is no message');
        const m = MAILBOX[n - 1];
        const body = verb === 'RETR' ? m.body : m.body.split(CRLF).slice(0, Number(args[1] ?? 0) + 1).join(CRLF);
        return socket.write(`+OK ${size(n)} octets${CRLF}${multiline(m.head.join(CRLF) + CRLF + body)}`);
      }
      case 'NOOP':
      case 'RSET':
      case 'DELE':
        return say('+OK');
      case 'QUIT':
        say('+OK Logging out.');
        return socket.end();
      default:
        return say('-ERR Unknown command.');
    }
  });
}

/** SMTP; with `starttls` (a secure context) STARTTLS is offered until TLS is on, as on port 587. */
function smtp(socket, starttls = null) {
  let say = (s) => socket.write(s + CRLF);
  let next = null;
  let data = false;
  let offerTls = starttls !== null;
  say('220 training.invalid ESMTP');
  const onLine = (line) => {
    if (data) {
      if (line === '.') {
        data = false;
        say('250 2.0.0 Ok: queued');
      }
      return;
    }
    if (next) {
      const step = next;
      next = null;
      step(line);
      return;
    }
    const [verb0 = '', ...args] = line.split(' ');
    switch (verb0.toUpperCase()) {
      case 'EHLO':
        return say(['250-training.invalid', '250-PIPELINING', '250-SIZE 10240000', ...(offerTls ? ['250-STARTTLS'] : []), '250-AUTH PLAIN LOGIN', '250-ENHANCEDSTATUSCODES', '250-8BITMIME', '250 SMTPUTF8'].join(CRLF));
      case 'STARTTLS': {
        if (!offerTls) return say('502 5.5.1 Error: command not implemented');
        offerTls = false;
        stop();
        say('220 2.0.0 Ready to start TLS');
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: starttls });
        secure.on('error', () => undefined);
        say = (s) => secure.write(s + CRLF);
        stop = lines(secure, onLine);
        return;
      }
      case 'HELO':
        return say('250 training.invalid');
      case 'AUTH':
        if ((args[0] ?? '').toUpperCase() === 'LOGIN') {
          next = () => {
            next = () => say('235 2.7.0 Authentication successful');
            say('334 UGFzc3dvcmQ6');
          };
          return say('334 VXNlcm5hbWU6');
        }
        if (args.length > 1) return say('235 2.7.0 Authentication successful');
        next = () => say('235 2.7.0 Authentication successful');
        return say('334 ');
      case 'MAIL':
      case 'RCPT':
      case 'RSET':
      case 'NOOP':
        return say('250 2.0.0 Ok');
      case 'DATA':
        data = true;
        return say('354 End data with <CR><LF>.<CR><LF>');
      case 'QUIT':
        say('221 2.0.0 Bye');
        return socket.end();
      default:
        return say('502 5.5.2 Error: command not recognized');
    }
  };
  let stop = lines(socket, onLine);
}

/**
 * Start the three servers, and with `secure` ({ key, cert }, PEM) IMAP and POP3 with TLS from the
 * first byte and SMTP with STARTTLS; `close()` stops them and drops their connections.
 */
export async function startTrainingServers(secure = null) {
  const sockets = new Set();
  const listen = (handler, withTls) =>
    new Promise((resolve, reject) => {
      const onSocket = (socket) => {
        sockets.add(socket);
        socket.setNoDelay(true);
        socket.on('close', () => sockets.delete(socket));
        handler(socket);
      };
      const server = withTls ? tls.createServer({ key: secure.key, cert: secure.cert }, onSocket) : net.createServer(onSocket);
      server.on('error', reject);
      server.on('tlsClientError', () => undefined);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
  const servers = { imap: await listen(imap), pop3: await listen(pop3), smtp: await listen(smtp) };
  if (secure) {
    // Calendar Server sends through STARTTLS only (port 587), and reads over TLS from the first byte.
    const context = tls.createSecureContext({ key: secure.key, cert: secure.cert });
    Object.assign(servers, { imaps: await listen(imap, true), pop3s: await listen(pop3, true), submission: await listen((socket) => smtp(socket, context)) });
  }
  return {
    ports: Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, s.address().port])),
    close() {
      for (const s of sockets) s.destroy();
      for (const s of Object.values(servers)) s.close();
    },
  };
}
