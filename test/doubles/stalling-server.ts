/**
 * Small SMTP, IMAP and POP3 listeners on 127.0.0.1 that behave like a minimal server up to one
 * chosen step and then stall: they keep the connection open and send nothing more.
 *
 * A test double, because a stall is exactly what no real server does on demand: Postfix and
 * Dovecot answer every command promptly, and there is no setting that makes them go silent after
 * the greeting, in the middle of a TLS handshake or halfway through a FETCH answer. Up to the stall
 * each listener answers as RFC 5321/3207/4954 (SMTP), RFC 3501 (IMAP) and RFC 1939/2449/2595 (POP3)
 * say, with just enough to lead a client to that step; it accepts any login.
 *
 * Stall points:
 * - `greeting`: the TCP connection is accepted, nothing is sent (on an implicit-TLS port this is a
 *   stall during the TLS handshake: no ServerHello);
 * - `after-tls`: implicit TLS completes, then no greeting;
 * - `starttls`: STARTTLS/STLS is answered with OK, then no TLS handshake;
 * - a command verb (`EHLO`, `CAPABILITY`, `CAPA`, `LOGIN`, `AUTH`, `APOP`, `EXAMINE`, `MAIL`,
 *   `STAT`, ...): that command gets no answer;
 * - `FETCH`/`RETR`/`TOP` with `partial`: the answer starts and stops halfway;
 * - `DATA` with `partial`: the message is taken, the final reply never comes.
 */
import net from 'node:net';
import tls from 'node:tls';

export type Protocol = 'smtp' | 'imap' | 'pop3';

export interface StallOptions {
  protocol: Protocol;
  /** TLS from the first byte. */
  implicitTls: boolean;
  /** Offer STARTTLS/STLS on a plain connection. */
  offerStartTls: boolean;
  /** Where to go silent (see the file comment). */
  stallAt: string;
  /** The answer to the stall command starts and then stops. */
  partial?: boolean;
  key: string;
  cert: string;
}

export interface StallingServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** When the first connection was accepted (Date.now()), or null. */
  firstConnectionAt: number | null;
  /** When the last connection so far was closed (by either side), or null. */
  lastCloseAt: number | null;
  /**
   * Milliseconds the clients spent waiting on stalled connections: from the moment each connection
   * went silent to its close, over all connections as one timeline (a second try after the first
   * adds up; two sessions stalled at the same time, such as `poll`'s access check and its own
   * session with UseSSL true, cost the wait once).
   */
  stalledMs(): number;
  close(): Promise<void>;
}

const MESSAGE = [
  'From: Attendee <attendee@remote.test>',
  'To: calendar+00000000-0000-4000-8000-000000000001@example.test',
  'Subject: Accepted: meeting',
  'Message-ID: <stall-1@remote.test>',
  'Date: Tue, 03 Mar 2026 10:00:00 +0000',
  'Content-Type: text/plain',
  '',
  'hello',
  '',
].join('\r\n');

export async function startStallingServer(o: StallOptions): Promise<StallingServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, first: null as number | null, lastClose: null as number | null };
  /** Per connection: when it went silent, and when it closed. */
  const stalls = new Map<net.Socket, { from: number; to: number | null }>();
  const markStalled = (raw: net.Socket): void => {
    if (!stalls.has(raw)) stalls.set(raw, { from: Date.now(), to: null });
    // Keep reading (and ignoring) on the TCP socket: a paused socket never notices the client's close.
    if (raw.listenerCount('data') === 0) raw.on('data', () => undefined);
    raw.resume();
  };
  const server = net.createServer((raw) => {
    state.connections++;
    state.first ??= Date.now();
    sockets.add(raw);
    raw.on('error', () => undefined);
    raw.on('close', () => {
      sockets.delete(raw);
      state.lastClose = Date.now();
      const st = stalls.get(raw);
      if (st && st.to === null) st.to = state.lastClose;
    });
    if (o.implicitTls) {
      if (o.stallAt === 'greeting') return markStalled(raw); // no ServerHello: a stall during the TLS handshake
      const secure = new tls.TLSSocket(raw, { isServer: true, key: o.key, cert: o.cert });
      secure.on('error', () => undefined);
      secure.once('secure', () => session(secure, true, raw));
      sockets.add(secure);
      return;
    }
    session(raw, false, raw);
  });

  function session(sock: net.Socket, secure: boolean, raw: net.Socket): void {
    const connection = state.connections;
    if (o.stallAt === 'greeting' || (secure && o.implicitTls && o.stallAt === 'after-tls')) return markStalled(raw);
    let buffer = '';
    let stalled = false;
    let inData = false;
    let authStep: string | null = null;
    const write = (text: string): void => {
      if (!stalled && !sock.destroyed) sock.write(text);
    };
    const stall = (partialText?: string): void => {
      if (partialText && o.partial) sock.write(partialText);
      stalled = true;
      markStalled(raw);
    };
    const upgrade = (): void => {
      sock.removeAllListeners('data');
      if (o.stallAt === 'starttls') {
        stalled = true; // OK sent, no handshake ever
        markStalled(raw);
        return;
      }
      const up = new tls.TLSSocket(sock, { isServer: true, key: o.key, cert: o.cert });
      up.on('error', () => undefined);
      sockets.add(up);
      up.once('secure', () => {
        if (o.stallAt === 'after-tls') return markStalled(raw);
        onSecure(up);
      });
    };
    let onSecure: (s: net.Socket) => void = () => undefined;

    const greet: Record<Protocol, string> = {
      smtp: '220 stall.test ESMTP fake\r\n',
      imap: '* OK stall.test IMAP4rev1 fake ready\r\n',
      // An APOP challenge (so a login without TLS is possible), except where STLS is to be used:
      // a client that follows the Calendar Server prefers APOP whenever it is offered.
      pop3: `+OK stall.test POP3 fake ready${o.offerStartTls ? '' : ' <1896.697170952@stall.test>'}\r\n`,
    };
    const verbOf = (line: string): { tag: string; verb: string; args: string } => {
      if (o.protocol === 'imap') {
        const m = /^(\S+)\s+(UID\s+)?(\S+)\s*(.*)$/i.exec(line) ?? [];
        return { tag: m[1] ?? '*', verb: (m[3] ?? '').toUpperCase(), args: m[4] ?? '' };
      }
      const m = /^(\S+)\s*(.*)$/.exec(line) ?? [];
      return { tag: '', verb: (m[1] ?? '').toUpperCase(), args: m[2] ?? '' };
    };

    const handle = (line: string): void => {
      if (stalled) return;
      if (o.protocol === 'smtp' && inData) {
        if (line === '.') {
          inData = false;
          if (o.stallAt === 'DATA') return stall();
          write('250 2.0.0 queued\r\n');
        }
        return;
      }
      if (authStep !== null) {
        // The SASL continuation (credentials): answer success.
        const tag = authStep;
        authStep = null;
        if (o.protocol === 'smtp') write('235 2.7.0 accepted\r\n');
        else if (o.protocol === 'imap') write(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n`);
        else write('+OK logged in\r\n');
        return;
      }
      const { tag, verb, args } = verbOf(line);
      if (verb === o.stallAt && !(o.partial && ['FETCH', 'RETR', 'TOP', 'DATA'].includes(verb))) return stall();
      if (o.protocol === 'smtp') smtp(verb, args);
      else if (o.protocol === 'imap') imap(tag, verb, args);
      else pop3(verb, args);
    };

    const smtp = (verb: string, args: string): void => {
      switch (verb) {
        case 'EHLO':
          write(`250-stall.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n${!secure && o.offerStartTls ? '250-STARTTLS\r\n' : ''}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n`);
          return;
        case 'HELO':
          write('250 stall.test\r\n');
          return;
        case 'STARTTLS':
          write('220 2.0.0 Ready to start TLS\r\n');
          upgrade();
          return;
        case 'AUTH':
          if (/^PLAIN\s+\S+/i.test(args)) write('235 2.7.0 accepted\r\n');
          else if (/^LOGIN/i.test(args)) {
            write('334 VXNlcm5hbWU6\r\n');
            authStep = 'login-user';
          } else {
            write('334 \r\n');
            authStep = 'sasl';
          }
          return;
        case 'DATA':
          write('354 go ahead\r\n');
          inData = true;
          return;
        case 'QUIT':
          write('221 2.0.0 bye\r\n');
          sock.end();
          return;
        default:
          write('250 2.0.0 ok\r\n');
      }
    };

    // No AUTH=PLAIN: clients then log in with LOGIN, the one login command to stall on.
    const imapCaps = (): string => `IMAP4rev1 ${!secure && o.offerStartTls ? 'STARTTLS ' : ''}UIDPLUS`;
    const imap = (tag: string, verb: string, args: string): void => {
      switch (verb) {
        case 'CAPABILITY':
          write(`* CAPABILITY ${imapCaps()}\r\n${tag} OK done\r\n`);
          return;
        case 'STARTTLS':
          write(`${tag} OK begin TLS\r\n`);
          upgrade();
          return;
        case 'LOGIN':
          write(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n`);
          return;
        case 'AUTHENTICATE':
          if (/^PLAIN\s+\S+/i.test(args)) write(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n`);
          else {
            write('+ \r\n');
            authStep = tag;
          }
          return;
        case 'EXAMINE':
        case 'SELECT':
          // UIDNEXT 1 although message 1 exists: a reply watcher, which reads only what arrives
          // after it started, then still fetches message 1 (and meets a FETCH stall).
          write(`* 1 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 77] ok\r\n* OK [UIDNEXT 1] ok\r\n${tag} OK [${verb === 'EXAMINE' ? 'READ-ONLY' : 'READ-WRITE'}] done\r\n`);
          return;
        case 'SEARCH':
          write(`* SEARCH 1\r\n${tag} OK done\r\n`);
          return;
        case 'FETCH':
          if (o.stallAt === 'FETCH') return stall(`* 1 FETCH (UID 1 FLAGS () RFC822.SIZE ${MESSAGE.length} `);
          write(`* 1 FETCH (UID 1 FLAGS () RFC822.SIZE ${MESSAGE.length})\r\n${tag} OK done\r\n`);
          return;
        case 'LOGOUT':
          write(`* BYE bye\r\n${tag} OK done\r\n`);
          sock.end();
          return;
        case 'LIST':
          write(`* LIST () "/" INBOX\r\n${tag} OK done\r\n`);
          return;
        case 'STATUS':
          write(`* STATUS INBOX (MESSAGES 1 UNSEEN 1 UIDNEXT 2 UIDVALIDITY 77)\r\n${tag} OK done\r\n`);
          return;
        default:
          write(`${tag} OK done\r\n`);
      }
    };

    const pop3 = (verb: string, args: string): void => {
      const body = `${MESSAGE.replace(/\r\n\./g, '\r\n..')}`;
      switch (verb) {
        case 'CAPA':
          write(`+OK\r\nUSER\r\nUIDL\r\nTOP\r\n${!secure && o.offerStartTls ? 'STLS\r\n' : ''}SASL PLAIN\r\n.\r\n`);
          return;
        case 'STLS':
          write('+OK begin TLS\r\n');
          upgrade();
          return;
        case 'AUTH':
          write('+ \r\n');
          authStep = 'sasl';
          return;
        case 'STAT':
          write(`+OK 1 ${body.length}\r\n`);
          return;
        case 'LIST':
          write(args ? `+OK 1 ${body.length}\r\n` : `+OK 1 messages\r\n1 ${body.length}\r\n.\r\n`);
          return;
        case 'UIDL':
          // A new UIDL in every session, so a reply watcher always sees a new message to read.
          write(args ? `+OK 1 uid-${connection}\r\n` : `+OK\r\n1 uid-${connection}\r\n.\r\n`);
          return;
        case 'RETR':
        case 'TOP':
          if (o.stallAt === verb) return stall(`+OK message follows\r\n${body.slice(0, 40)}`);
          write(`+OK message follows\r\n${body}\r\n.\r\n`);
          return;
        case 'QUIT':
          write('+OK bye\r\n');
          sock.end();
          return;
        default:
          write('+OK\r\n');
      }
    };

    const attach = (s: net.Socket): void => {
      sock = s;
      secure = s instanceof tls.TLSSocket;
      s.setEncoding('latin1');
      s.on('data', (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, i).replace(/\r$/, '');
          buffer = buffer.slice(i + 1);
          handle(line);
        }
      });
    };
    onSecure = (s) => {
      buffer = '';
      attach(s);
      // After STARTTLS SMTP and IMAP wait for the client; nothing is sent.
    };
    attach(sock);
    write(greet[o.protocol]);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get connections() {
      return state.connections;
    },
    get firstConnectionAt() {
      return state.first;
    },
    get lastCloseAt() {
      return state.lastClose;
    },
    stalledMs: () => {
      const spans = [...stalls.values()].map((st) => [st.from, st.to ?? Date.now()] as const).sort((a, b) => a[0] - b[0]);
      let total = 0;
      let end = -Infinity;
      for (const [from, to] of spans) {
        if (to <= end) continue;
        total += to - Math.max(from, end);
        end = to;
      }
      return total;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
