/**
 * Reply injection into the calendar server's `/inbox/` over HTTP, as the 2.x–4.x mail gateway
 * does it (`injectMessage` in twistedcaldav/mail.py, `AuthorizedHTTPGetter` in twistedcaldav/util.py):
 *
 *  - URL: `<scheme>//<host>:<port>/inbox/`; host `localhost` when `MailGatewayServer` is
 *    `localhost`, else `ServerHostName`; 2.x scheme/port from `SSLPort` (https when ≠ 0, else
 *    http + `HTTPPort`), 3.x–4.x from `EnableSSL`. `--inject-url` overrides.
 *  - Headers: `Content-Type: text/calendar`, `Originator: <token attendee>`,
 *    `Recipient: <token organizer>`, User-Agent `iMIP gateway`.
 *  - 2.x: `AuthorizedHTTPGetter`: first request without credentials; on 401 parse
 *    `WWW-Authenticate`, answer Digest (preferred; qop auth, MD5/MD5-sess) or Basic as
 *    `Scheduling.iMIP.Username`, retry once.
 *  - 3.x–4.x: `<Header>: <Password>` on every request, no user name; a 401 is final
 *    ("Authentication required").
 *  - Body: the reply rewritten as `MailHandler.processReply` does ({@link rewriteReply}), or a
 *    DSN's returned invitation rewritten as `processDSN` does ({@link rewriteDsn}).
 *
 * Every request is bounded by a timeout (and an optional AbortSignal). Passwords never appear in
 * results, errors or URLs shown to the user.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import ICAL from 'ical.js';
import type { ImipSettings } from '../config/settings.js';
import { startDeadline } from '../clients/deadline.js';
import { Redactor } from '../net/net-stage.js';
import { runContext } from '../net/tls-handshake.js';
import { CannotRunError } from '../report/exit.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import { mailClientsFor, type Addressing } from '../server/mail-clients.js';
import { pyLower } from '../imip/mime-headers.js';

export type InjectionAuth = 'digest-user' | 'shared-secret-header';

export interface InjectionTarget {
  /** Where to POST; credentials never part of it. */
  url: URL;
  auth: InjectionAuth;
  /** 2.x: the directory user (`Scheduling.iMIP.Username`). */
  username: string | null;
  /** 2.x: that user's password; 3.x–4.x: the shared secret. Never printed. */
  password: string | null;
  /** 3.x–4.x: the header carrying the secret (`Scheduling.iMIP.Header`). */
  header: string | null;
  /** How the URL was chosen, in words (for the report). */
  derivedFrom: string;
  /**
   * Which addresses of the host the gateway connects to (src/server/mail-clients.ts `Addressing`,
   * as its SMTP sender: the same Twisted calls): 2.x-3.x the first IPv4 address, 4.x every IPv4
   * one. Unset: the first.
   */
  addressing?: Addressing;
}

/** The URL as shown to people: no user info, ever. */
export function displayUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** `injectMessage` (3.2+ `injectionSettingsFromURL`): where the gateway POSTs replies; `override` is `--inject-url`. */
export function injectionTarget(settings: ImipSettings, version: ServerVersion, override?: string, o: { noInjectUrl?: boolean } = {}): InjectionTarget {
  if (version.line === '5.0+') throw new CannotRunError('5.0 and later inject replies in-process: there is no /inbox/ to POST to');
  const auth: InjectionAuth = version.line === '2.x' ? 'digest-user' : 'shared-secret-header';
  const common = {
    addressing: mailClientsFor(version).addressing.sending,
    auth,
    username: auth === 'digest-user' ? settings.username || null : null,
    password: settings.password ?? null,
    header: auth === 'shared-secret-header' ? settings.header || 'x-calendarserver-internal' : null,
  };
  if (override) {
    let url: URL;
    try {
      url = new URL(override);
    } catch {
      throw new CannotRunError(`--inject-url: "${override}" is not a URL; give one such as http://localhost:8008/inbox/`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CannotRunError(`--inject-url: ${url.protocol} is not supported; give an http:// or https:// URL`);
    }
    if (url.username || url.password) {
      throw new CannotRunError('--inject-url: leave credentials out of the URL; they come from Scheduling.iMIP.Username/Password as the gateway uses them');
    }
    return { ...common, url, derivedFrom: 'given with --inject-url' };
  }
  const host = settings.mailGatewayServer === 'localhost' ? 'localhost' : settings.serverHostName;
  const hostWhy =
    settings.mailGatewayServer === 'localhost' ? 'MailGatewayServer is "localhost"' : `MailGatewayServer is "${settings.mailGatewayServer ?? ''}", so ServerHostName`;
  // 2.x: https when SSLPort ≠ 0; 3.x–4.x: EnableSSL decides (`injectMessage`).
  const useSsl = version.line === '2.x' ? settings.sslPort !== 0 : settings.enableSSL;
  const port = useSsl ? settings.sslPort : settings.httpPort;
  const portWhy = version.line === '2.x' ? (useSsl ? 'SSLPort ≠ 0' : 'SSLPort is 0, so HTTPPort') : useSsl ? 'EnableSSL is true, so SSLPort' : 'EnableSSL is false, so HTTPPort';
  // diagnose has no --inject-url: there the way to name the server for this run is --set.
  const give = (key: string, example: string): string => (o.noInjectUrl ? `set ${key} in the config, or give --set ${key}=${example} for this run` : 'give --inject-url');
  if (!host) throw new CannotRunError(`cannot derive the injection URL: ServerHostName is empty; ${give('ServerHostName', 'calendar.example.com')}`);
  if (!port) {
    const key = useSsl ? 'SSLPort' : 'HTTPPort';
    throw new CannotRunError(`cannot derive the injection URL: ${key} is 0 (the gateway would connect to port 0); ${give(key, useSsl ? '8443' : '8008')}`);
  }
  const url = new URL(`${useSsl ? 'https' : 'http'}://${host}:${port}/inbox/`);
  return { ...common, url, derivedFrom: `${hostWhy}; ${portWhy} (as the ${version.line} mail gateway derives it)` };
}

// ---- the calendar the gateway injects -------------------------------------------------------

export interface TokenParty {
  organizer: string;
  attendee: string;
}

/**
 * The components twistedcaldav does not skip: all but VTIMEZONE, and from 3.0 also
 * X-CALENDARSERVER-PERUSER (ical.py `ignoredComponents`; CalendarServer-2.5 ical.py skips
 * VTIMEZONE only).
 */
function mainComponents(vcal: ICAL.Component, version: Pick<ServerVersion, 'major'>): ICAL.Component[] {
  const peruser = version.major >= 3;
  return vcal.getAllSubcomponents().filter((c) => {
    const name = c.name.toLowerCase();
    return name !== 'vtimezone' && !(peruser && name === 'x-calendarserver-peruser');
  });
}

/**
 * `removeAllButOneAttendee`: every main component keeps only the ATTENDEEs whose whole value
 * equals the token's, compared after Python 2's `lower()` (ASCII letters only; twistedcaldav/ical.py
 * in every release).
 */
function keepOnlyAttendee(vcal: ICAL.Component, attendee: string, version: Pick<ServerVersion, 'major'>): void {
  const want = pyLower(attendee);
  for (const comp of mainComponents(vcal, version)) {
    for (const p of comp.getAllProperties('attendee')) {
      if (pyLower(String(p.getFirstValue() ?? '')) !== want) comp.removeProperty(p);
    }
  }
}

/**
 * `getOrganizerProperty()` on the calendar: the ORGANIZER of the first main component, and none
 * when it has two (`getProperty` raises, which the method takes as none), even if a later
 * component has one (CalendarServer-2.5..4.3.2 twistedcaldav/ical.py).
 */
function serverOrganizerProperty(vcal: ICAL.Component, version: Pick<ServerVersion, 'major'>): ICAL.Property | null {
  const organizers = mainComponents(vcal, version)[0]?.getAllProperties('organizer') ?? [];
  return organizers.length === 1 ? organizers[0]! : null;
}

function parseVcalendar(text: string, version: Pick<ServerVersion, 'major'>, needsMain = true): ICAL.Component {
  const jcal = ICAL.parse(text.replace(/^\uFEFF/, ''));
  const first = Array.isArray(jcal) && Array.isArray(jcal[0]) ? jcal[0] : jcal;
  const vcal = new ICAL.Component(first as unknown[]);
  if (vcal.name.toLowerCase() !== 'vcalendar') throw new Error('no VCALENDAR object in the calendar data');
  if (needsMain && !mainComponents(vcal, version).length) throw new Error('VCALENDAR without a main component');
  return vcal;
}

/**
 * `MailHandler.processReply` of the 2.x–4.x gateway, the only ones that POST to /inbox/: keep
 * only the token's attendee, set the ORGANIZER the server finds to the token's organizer or add
 * one (2.x on the VCALENDAR itself), 3.0+ re-add the attendee with SCHEDULE-STATUS 5.1 when none
 * is left. Throws when the calendar does not parse (the server fails the same way).
 */
export function rewriteReply(text: string, token: TokenParty, version: Pick<ServerVersion, 'major' | 'minor'>): string {
  // 2.x adds a missing ORGANIZER to the calendar itself, not to an event (CalendarServer-2.2..2.5
  // mail.py `processReply`: `calendar.addProperty`), so it POSTs a calendar without a main
  // component too, which the calendar server then refuses (classify.ts `postedWithoutComponent`);
  // 3.0+ add it to the main component (`event.addProperty`) and fail without one.
  const onCalendar = featuresOf(version).organizerOnCalendar;
  const vcal = parseVcalendar(text, version, !onCalendar);
  // 3.0+: `mainComponent()`, the only one (more fail before this: classify.ts).
  const main = mainComponents(vcal, version)[0];
  keepOnlyAttendee(vcal, token.attendee, version);
  const org = serverOrganizerProperty(vcal, version);
  if (org) org.setValue(token.organizer);
  else (onCalendar ? vcal : main!).addPropertyWithValue('organizer', token.organizer);
  // `if not calendar.getAttendees()`: the main component's.
  if (main && !main.getFirstProperty('attendee') && version.major >= 3) {
    const p = new ICAL.Property('attendee');
    p.setValue(token.attendee);
    // iTIPRequestStatus.SERVICE_UNAVAILABLE: the organizer sees that the reply failed.
    p.setParameter('schedule-status', '5.1');
    main.addProperty(p);
  }
  return vcal.toString();
}

/**
 * `MailHandler.processDSN` (2.x–4.x `mail.py`): the returned invitation with only the token's
 * attendee, ORGANIZER set to the token's organizer, and `REQUEST-STATUS:5.1;Service unavailable`
 * on the first VEVENT.
 * METHOD is left as it was (the gateway does not change it).
 */
export function rewriteDsn(text: string, token: TokenParty, version: Pick<ServerVersion, 'major'>): string {
  const vcal = parseVcalendar(text, version);
  keepOnlyAttendee(vcal, token.attendee, version);
  const org = serverOrganizerProperty(vcal, version);
  if (org) org.setValue(token.organizer);
  const vevent = vcal.getFirstSubcomponent('vevent');
  if (vevent) {
    const p = new ICAL.Property('request-status');
    // A structured value: `5.1;Service unavailable`, the semicolon not escaped.
    p.setValue(['5.1', 'Service unavailable'] as unknown as string);
    vevent.addProperty(p);
  }
  return vcal.toString();
}

// ---- HTTP ------------------------------------------------------------------------------------

export interface InjectOptions {
  timeoutMs: number;
  /**
   * `--ca-file` as PEM text: trusted for https in addition to Node's default store, through the
   * secure context every mail connection of the run shares (../net/tls-handshake.ts runContext;
   * on Node before 22.7 that context leaves out `NODE_EXTRA_CA_CERTS`, as Node does for any
   * context given a CA).
   */
  ca?: string;
  insecure?: boolean;
  signal?: AbortSignal;
}

export interface InjectAttempt {
  /** `unauthenticated`, `digest`, `basic`, `header`. */
  auth: string;
  status: number | null;
}

export interface InjectResult {
  ok: boolean;
  /** Final HTTP status; null when no answer came (timeout, refused, cut). */
  status: number | null;
  /** The gateway's failure reason (worded as `injectMessage` logs it), when not ok. */
  reason?: string;
  /** The server's answer may have been processed though we saw no answer (timeout, cut mid-answer). */
  uncertain?: boolean;
  attempts: InjectAttempt[];
  ms: number;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

class RequestFailure extends Error {
  constructor(
    message: string,
    readonly uncertain: boolean,
  ) {
    super(message);
  }
}

/**
 * 4.x: GAIEndpoint tries every IPv4 address a moment apart, the first to connect winning. Node
 * does the like with `autoSelectFamily` when its lookup gives every address: this one gives the
 * IPv4 ones only.
 */
function everyIpv4(hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void {
  dnsLookup(hostname, { all: true, family: 4 }, (err, addresses) => {
    if (err) return callback(err, []);
    if ((options as { all?: boolean }).all) return callback(null, addresses);
    callback(null, addresses[0]!.address, 4);
  });
}

function post(url: URL, headers: Record<string, string>, body: Buffer, opts: InjectOptions, addressing: Addressing = 'first-ipv4'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Only 2.x-4.x inject over HTTP, and they connect over IPv4 only: 2.x-3.x through
    // `reactor.connectTCP`, which looks the host up with gethostbyname and takes its first IPv4
    // address (CalendarServer-2.5 and -3.3 twistedcaldav/mail.py `injectMessage`), 4.x through
    // GAIEndpoint on Twisted 12.0.0, which tries every IPv4 address and whose TCP client cannot
    // take an IPv6 one (CalendarServer-4.3.2 mail.py; src/server/mail-clients.ts).
    if (url.hostname.startsWith('[')) {
      reject(new RequestFailure(`${url.hostname} is an IPv6 address, and Calendar Server 2.x to 4.x connect over IPv4 only: the gateway's lookup of it fails`, false));
      return;
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let sent = false;
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(body.length) },
        agent: false,
        ...(addressing === 'ipv4' ? { autoSelectFamily: true, lookup: everyIpv4 } : { family: 4 }),
        ...(url.protocol === 'https:' ? { secureContext: runContext(opts.ca), rejectUnauthorized: !opts.insecure } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on('end', () => {
          cleanup();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => fail(new RequestFailure(`the answer was cut: ${err.message}`, true)));
        res.on('aborted', () => fail(new RequestFailure('the answer was cut', true)));
      },
    );
    // An answer that arrived while this process was busy is not a lost one (../clients/deadline.ts).
    const timer = startDeadline(opts.timeoutMs, () => {
      fail(new RequestFailure(`no answer within ${Math.round(opts.timeoutMs / 1000)} s`, sent));
    });
    const onAbort = (): void => fail(new RequestFailure('interrupted', sent));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup(): void {
      timer.clear();
      opts.signal?.removeEventListener('abort', onAbort);
    }
    function fail(err: RequestFailure): void {
      cleanup();
      req.destroy();
      reject(err);
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Connection refused or reset before the request went out: certainly not processed.
      fail(new RequestFailure(err.code ? `${err.code}: ${err.message}` : err.message, sent && err.code !== 'ECONNREFUSED'));
    });
    if (opts.signal?.aborted) return fail(new RequestFailure('interrupted', false));
    req.end(body, () => {
      sent = true;
    });
  });
}

/** `WWW-Authenticate` challenges: scheme plus parameters (several headers, or one with several). */
export function parseChallenges(values: string | string[] | undefined): Array<{ scheme: string; params: Record<string, string> }> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  const out: Array<{ scheme: string; params: Record<string, string> }> = [];
  for (const value of list) {
    let i = 0;
    let current: { scheme: string; params: Record<string, string> } | null = null;
    const skip = (): void => {
      while (i < value.length && /[\s,]/.test(value[i]!)) i++;
    };
    while (i < value.length) {
      skip();
      const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(value.slice(i));
      if (!m) {
        i++;
        continue;
      }
      const token = m[0];
      i += token.length;
      let j = i;
      while (j < value.length && (value[j] === ' ' || value[j] === '\t')) j++;
      if (value[j] === '=' && current) {
        i = j + 1;
        while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
        let v = '';
        if (value[i] === '"') {
          i++;
          while (i < value.length && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < value.length) i++;
            v += value[i++];
          }
          i++;
        } else {
          while (i < value.length && !/[\s,]/.test(value[i]!)) v += value[i++];
        }
        current.params[token.toLowerCase()] = v;
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** RFC 2617 Digest response (MD5 or MD5-sess; qop auth or none), as twisted's digest client computes it. */
export function digestAuthorization(
  params: Record<string, string>,
  user: string,
  password: string,
  method: string,
  uri: string,
  cnonce = randomBytes(8).toString('hex'),
  nc = '00000001',
): string {
  const realm = params.realm ?? '';
  const nonce = params.nonce ?? '';
  const algorithm = (params.algorithm ?? 'MD5').toUpperCase();
  const qops = (params.qop ?? '').split(',').map((q) => q.trim().toLowerCase()).filter(Boolean);
  const qop = qops.includes('auth') ? 'auth' : null;
  let ha1 = md5(`${user}:${realm}:${password}`);
  if (algorithm === 'MD5-SESS') ha1 = md5(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = qop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  const parts = [
    `username="${user.replace(/(["\\])/g, '\\$1')}"`,
    `realm="${realm}"`,
    `nonce="${nonce}"`,
    `uri="${uri}"`,
    `response="${response}"`,
    `algorithm=${params.algorithm ?? 'MD5'}`,
  ];
  if (params.opaque !== undefined) parts.push(`opaque="${params.opaque}"`);
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  return `Digest ${parts.join(', ')}`;
}

/**
 * POST one rewritten calendar to `/inbox/`. Never throws for network or HTTP problems: the
 * result says what happened, in the gateway's own failure wording where it has one.
 */
export async function injectCalendar(
  target: InjectionTarget,
  party: TokenParty,
  calendar: string,
  opts: InjectOptions,
): Promise<InjectResult> {
  const started = Date.now();
  const attempts: InjectAttempt[] = [];
  const body = Buffer.from(calendar, 'utf8');
  const headers: Record<string, string> = {
    'Content-Type': 'text/calendar',
    Originator: party.attendee,
    Recipient: party.organizer,
    'User-Agent': 'iMIP gateway',
  };
  // A server that echoes the request (a proxy's error page, a debugging endpoint) may send back
  // the shared secret or the Basic credentials: the reason shown never holds them.
  const redactor = new Redactor([target.password]);
  const done = (r: Omit<InjectResult, 'attempts' | 'ms'>): InjectResult => ({ ...r, ...(r.reason ? { reason: redactor.text(r.reason) } : {}), attempts, ms: Date.now() - started });
  const send = async (auth: string, extra: Record<string, string>): Promise<RawResponse> => {
    try {
      const res = await post(target.url, { ...headers, ...extra }, body, opts, target.addressing);
      attempts.push({ auth, status: res.status });
      return res;
    } catch (err) {
      attempts.push({ auth, status: null });
      throw err;
    }
  };
  try {
    if (target.auth === 'shared-secret-header') {
      // 3.x–4.x: header on every request; no user name, so a 401 is final.
      const res = await send('header', { [target.header ?? 'x-calendarserver-internal']: target.password ?? '' });
      if (res.status >= 200 && res.status < 300) return done({ ok: true, status: res.status });
      if (res.status === 401) return done({ ok: false, status: 401, reason: 'Authentication required' });
      return done({ ok: false, status: res.status, reason: httpReason(res, redactor) });
    }
    // 2.x AuthorizedHTTPGetter: unauthenticated first.
    const first = await send('unauthenticated', {});
    if (first.status !== 401) {
      return first.status >= 200 && first.status < 300
        ? done({ ok: true, status: first.status })
        : done({ ok: false, status: first.status, reason: httpReason(first, redactor) });
    }
    if (!target.username) {
      return done({ ok: false, status: 401, reason: 'Mail gateway not able to process reply; authentication required for calendar server' });
    }
    const challenges = parseChallenges(first.headers['www-authenticate']);
    const digest = challenges.find((c) => c.scheme === 'digest');
    const basic = challenges.find((c) => c.scheme === 'basic');
    let authorization: string;
    let how: string;
    if (digest) {
      authorization = digestAuthorization(digest.params, target.username, target.password ?? '', 'POST', target.url.pathname + target.url.search);
      how = 'digest';
    } else if (basic) {
      authorization = `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
      how = 'basic';
    } else {
      return done({ ok: false, status: 401, reason: "Mail gateway not able to process reply; calendar server returned 401 and doesn't support basic or digest" });
    }
    const second = await send(how, { Authorization: authorization });
    if (second.status >= 200 && second.status < 300) return done({ ok: true, status: second.status });
    if (second.status === 401) {
      return done({
        ok: false,
        status: 401,
        reason: `Mail gateway not able to process reply; could not authenticate user ${target.username} with calendar server`,
      });
    }
    return done({ ok: false, status: second.status, reason: httpReason(second, redactor) });
  } catch (err) {
    const f = err instanceof RequestFailure ? err : new RequestFailure((err as Error).message, true);
    return done({ ok: false, status: null, reason: f.message, uncertain: f.uncertain });
  }
}

/** The answer's status and the start of its text: masked before it is cut, so no part of a secret is left. */
function httpReason(res: RawResponse, redactor: Redactor): string {
  const text = redactor.text(res.body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim()).slice(0, 200);
  return `${res.status} ${STATUS_CODES[res.status] ?? ''}${text ? `: ${text}` : ''}`.trim();
}
