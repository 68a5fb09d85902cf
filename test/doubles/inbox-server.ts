/**
 * A test double of Calendar Server's `/inbox/` reply-injection endpoint (Calendar Server itself
 * cannot run here). It behaves as CalendarServer-2.5 and 3.x–4.x answer (`twistedcaldav/mail.py`,
 * `calendarserver/tap/caldav.py`, `calendarserver/provision/root.py`), per release line; each
 * behaviour names its source beside it. node:http on 127.0.0.1, an ephemeral port; it records
 * every request it received.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type DoubleLine = '2.x' | '3.x-4.x';

/** What the double does with the next requests, in order of precedence. */
export type FailureMode = 'none' | 'status500' | 'hang' | 'close';

export interface InboxDoubleOptions {
  line: DoubleLine;
  /**
   * 2.x: the directory's `users` records, short name → password (2.5 `mail.py`
   * `IMIPInboxResource.accessControlList`: the calendar server looks the injection user up with
   * `principalForShortName("users", ...)` and checks Digest against it).
   */
  directory?: Record<string, string>;
  /** 2.x: the calendar server's own `Scheduling.iMIP.Username` (default com.apple.calendarserver). */
  injectionUser?: string;
  /** 3.x–4.x: `Scheduling.iMIP.Header` and `Scheduling.iMIP.Password` (`root.py` `locateChild`). */
  header?: string;
  secret?: string;
  /** Digest realm the double announces. */
  realm?: string;
  /** Also offer Basic after Digest in the challenge. */
  offerBasic?: boolean;
  /** Offer Basic only (a proxy in front of the server, say): the gateway then answers with Basic. */
  basicOnly?: boolean;
  /** Failure mode applied to POSTs; `failFirst` limits it to the first N POSTs. */
  failure?: FailureMode;
  failFirst?: number;
  /**
   * A slow calendar server: every POST that would be accepted is processed (recorded as accepted)
   * at once and answered only after this many milliseconds. The reply is in the calendar
   * whatever happens to the answer, as with the real server, whose scheduler has already
   * delivered it when the response is written.
   */
  delayMs?: number;
  /** Called when a POST arrives (before it is answered); may be async. */
  onPost?: (req: ReceivedRequest) => void | Promise<void>;
  /**
   * Serve https with this certificate and key (PEM), as a server with EnableSSL (3.x–4.x) or an
   * SSLPort (2.x) does; the URL then names `localhost`, which the test stack's certificate carries.
   */
  tls?: { cert: string; key: string };
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** User the request authenticated as (Digest/Basic), or `header` for the shared secret. */
  authenticatedAs: string | null;
  /** What the double answered (null: hung or closed). */
  status: number | null;
}

export interface InboxDouble {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  requests: ReceivedRequest[];
  /** POSTs answered 200: the replies the calendar server accepted. */
  accepted(): ReceivedRequest[];
  /** The calendar server's error log lines (e.g. "iMIP injection principal not found: NAME"). */
  log: string[];
  setFailure(mode: FailureMode, first?: number): void;
  /** Answer accepted POSTs after this many milliseconds (0: at once). */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

function parseAuthParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header))) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return params;
}

export async function startInboxDouble(opts: InboxDoubleOptions): Promise<InboxDouble> {
  const requests: ReceivedRequest[] = [];
  const log: string[] = [];
  const realm = opts.realm ?? 'Test Realm';
  const injectionUser = opts.injectionUser ?? 'com.apple.calendarserver';
  const directory = opts.directory ?? {};
  const nonces = new Set<string>();
  let failure: FailureMode = opts.failure ?? 'none';
  let failLeft = opts.failFirst ?? Infinity;
  let delayMs = opts.delayMs ?? 0;
  const hanging = new Set<http.ServerResponse>();

  /** 2.5 caldav.py `makeService_Slave`: Digest for /inbox (AuthenticationWrapper overrides). */
  const challenge = (res: http.ServerResponse): void => {
    const nonce = randomBytes(12).toString('hex');
    nonces.add(nonce);
    const values = opts.basicOnly ? [] : [`Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm="md5"`];
    if (opts.offerBasic || opts.basicOnly) values.push(`Basic realm="${realm}"`);
    res.writeHead(401, { 'WWW-Authenticate': values, 'Content-Type': 'text/plain' });
    res.end('Unauthorized');
  };

  /** Digest (RFC 2617, qop auth, MD5) or Basic, verified against the directory (2.x). */
  const authenticate = (req: http.IncomingMessage): string | null => {
    const auth = req.headers.authorization;
    if (!auth) return null;
    if (/^basic /i.test(auth)) {
      const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      const pass = rest.join(':');
      return user !== undefined && directory[user] !== undefined && directory[user] === pass ? user : null;
    }
    if (!/^digest /i.test(auth)) return null;
    const p = parseAuthParams(auth.slice(7));
    const user = p.username ?? '';
    const password = directory[user];
    if (password === undefined || !p.nonce || !nonces.has(p.nonce)) return null;
    let ha1 = md5(`${user}:${realm}:${password}`);
    if ((p.algorithm ?? 'md5').toLowerCase() === 'md5-sess') ha1 = md5(`${ha1}:${p.nonce}:${p.cnonce ?? ''}`);
    const ha2 = md5(`${req.method}:${p.uri ?? ''}`);
    const expected = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    return expected === p.response ? user : null;
  };

  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const rec: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          authenticatedAs: null,
          status: null,
        };
        requests.push(rec);
        const answer = (status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void => {
          rec.status = status;
          res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
          res.end(text);
        };
        // 2.x–4.x `mail.py`: the reply-injection resource is `/inbox/` (`injectMessage` builds
        // "%s//%s:%d/%s/" with path "inbox"), and only POST injects.
        if (!/^\/inbox\/?$/.test((req.url ?? '').split('?')[0]!)) return answer(404, 'Not Found');
        if (req.method !== 'POST') return answer(405, 'Method Not Allowed', { Allow: 'POST' });

        if (opts.line === '2.x') {
          // 2.5 `mail.py` IMIPInboxResource.accessControlList: the ACL names the `users` record
          // Scheduling.iMIP.Username; when the directory has no such user the server logs
          // "iMIP injection principal not found: %s" and answers 403 (before any credential helps).
          if (directory[injectionUser] === undefined) {
            log.push(`iMIP injection principal not found: ${injectionUser}`);
            return answer(403, 'Forbidden');
          }
          // 2.5 caldav.py: Digest forced for /inbox; the first, unauthenticated request is challenged.
          const who = authenticate(req);
          if (!who) {
            rec.status = 401;
            return challenge(res);
          }
          rec.authenticatedAs = who;
          // accessControlList: the ACL grants CALDAV:schedule-deliver to that one principal only.
          if (who !== injectionUser) return answer(403, 'Forbidden');
        } else {
          // 3.x–4.x calendarserver/provision/root.py RootResource.locateChild: plain string
          // equality of the header value with iMIP.Password; a match authenticates as
          // /principals/__uids__/<GUID>/. Otherwise the request falls back to normal auth: a 401
          // Digest challenge, which the gateway (no user name) cannot answer ("Authentication
          // required").
          const header = (opts.header ?? 'x-calendarserver-internal').toLowerCase();
          const values = req.headers[header];
          const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
          if (!list.some((v) => v === (opts.secret ?? ''))) {
            rec.status = 401;
            return challenge(res);
          }
          rec.authenticatedAs = 'header';
        }

        // `mail.py` injectMessage always sends Originator (token attendee) and Recipient (token
        // organizer); the scheduler reads both from the request headers
        // (doSchedulingViaPOST(use_request_headers=True), twistedcaldav/mail.py). This double
        // answers a POST without either with 400.
        const originator = req.headers.originator;
        const recipient = req.headers.recipient;
        if (!originator || !recipient) return answer(400, `missing ${!originator ? 'Originator' : 'Recipient'} header`);
        if (!/^text\/calendar\b/i.test(req.headers['content-type'] ?? '')) return answer(400, 'Content-Type must be text/calendar');

        await opts.onPost?.(rec);
        if (failure !== 'none' && failLeft > 0) {
          failLeft--;
          if (failure === 'status500') return answer(500, 'Internal Server Error');
          if (failure === 'close') {
            req.socket.destroy();
            return;
          }
          // hang: never answer (until close()).
          hanging.add(res);
          return;
        }
        // The scheduler checks the calendar before anything is delivered: a VCALENDAR with no
        // component at all (not even a VTIMEZONE) has no resource type, and `resourceType()`
        // raises ValueError, which `checkCalendarData` answers with 403 (CalDAV
        // valid-calendar-data) (CalendarServer-2.5 twistedcaldav/scheduling/scheduler.py
        // `Scheduler.checkCalendarData`, twistedcaldav/ical.py `validCalendarForCalDAV` and
        // `resourceType`). Only 2.x's gateway POSTs such a calendar (it adds a missing ORGANIZER to
        // the VCALENDAR itself).
        if (!/^BEGIN:(?!VCALENDAR\b)/im.test(rec.body)) {
          log.push('POST request calendar component is not valid:No component type found for calendar component');
          return answer(403, 'Forbidden');
        }
        // From 3.1 `validCalendarData` (pycalendar's validation) wants exactly one PRODID on the
        // VCALENDAR ("Missing or too many required property: PRODID"); the 3.x-4.x double stands
        // for 3.1 and later. Then `isValidMethod`: METHOD must be an iTIP method, compared as
        // written (CalendarServer-2.5..4.3.2 twistedcaldav/ical.py `isValidMethod`). Both answer 403.
        // pycalendar's checks of each component (one DTSTAMP and one UID, at most one ORGANIZER)
        // are not modelled here; the classifier's are (src/imip/scheduler-check.ts).
        const calendarLines = rec.body.split(/\r?\n/).filter((l) => !/^[ \t]/.test(l));
        const depth0 = (name: string): string[] => {
          let depth = 0;
          const out: string[] = [];
          for (const l of calendarLines) {
            if (/^BEGIN:/i.test(l)) depth++;
            else if (/^END:/i.test(l)) depth--;
            else if (depth === 1 && l.toUpperCase().startsWith(`${name}:`)) out.push(l.slice(name.length + 1));
          }
          return out;
        };
        if (opts.line === '3.x-4.x' && depth0('PRODID').length !== 1) {
          log.push('POST request calendar component is not valid:Calendar data had unfixable problems: [VCALENDAR] Missing or too many required property: PRODID');
          return answer(403, 'Forbidden');
        }
        const methods = depth0('METHOD');
        if (methods.length !== 1 || !['PUBLISH', 'REQUEST', 'REPLY', 'ADD', 'CANCEL', 'REFRESH', 'COUNTER', 'DECLINECOUNTER'].includes(methods[0]!)) {
          log.push('POST request must have valid METHOD property in calendar component');
          return answer(403, 'Forbidden');
        }
        // The scheduler's answer to a successful delivery (200, a schedule-response). With a delay
        // the reply is delivered (counted as accepted) before the answer is written.
        if (delayMs > 0) {
          rec.status = 200;
          hanging.add(res);
          await new Promise((r) => setTimeout(r, delayMs));
          hanging.delete(res);
          if (res.destroyed || req.socket.destroyed) return;
        }
        answer(200, '<?xml version="1.0" encoding="utf-8"?><schedule-response xmlns="urn:ietf:params:xml:ns:caldav"/>', {
          'Content-Type': 'text/xml; charset=utf-8',
        });
      })();
    });
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: opts.tls ? `https://localhost:${port}/inbox/` : `http://127.0.0.1:${port}/inbox/`,
    port,
    requests,
    log,
    accepted: () => requests.filter((r) => r.method === 'POST' && r.status === 200),
    setFailure(mode, first) {
      failure = mode;
      failLeft = first ?? Infinity;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
