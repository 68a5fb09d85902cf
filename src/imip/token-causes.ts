/**
 * Why a reply carries no usable token, for `diagnose` (`processReply` and `_extractToken`, every
 * release: only the first `To:` address counts, exactly one `+` in its local part, the lookup is
 * exact; and the usual ways a token is lost: a reply to the organizer's own address, Reply-All, a
 * list or forwarder rewriting `To:`, a provider dropping the `+`). Every cause that applies is
 * reported, most specific first.
 */
import type { Finding, Severity } from '../report/finding.js';
import { extractToken, parseaddr, serverAddress, splitAddressList, stripMailto, TOKEN_RE } from '../server/address.js';
import type { ServerVersion } from '../server/release.js';
import { isDeliveryReport } from './dsn.js';
import { propertyValues } from './reply-calendar.js';
import type { MessageInput } from './classify-types.js';
import { walkParts } from './mime-part.js';

export interface TokenCauseContext {
  sendingAddress: string;
  version: ServerVersion;
}

/** Report order: most specific first. */
export const TOKEN_CAUSE_IDS = [
  'token.malformed',
  'token.extra-plus',
  'token.not-first-recipient',
  'token.in-other-header',
  'token.only-in-calendar',
  'token.to-bare-address',
  'token.other-recipient',
  'token.absent',
] as const;

export type TokenCauseId = (typeof TOKEN_CAUSE_IDS)[number];

/** One line per cause, for `--list-checks` and the manual. */
export const TOKEN_CAUSES: Record<TokenCauseId, string> = {
  'token.malformed': 'What follows the "+" is not the lower-case UUID issued: re-cased, percent-encoded, truncated, other delimiter, a local part in quotes',
  'token.extra-plus': 'More than one "+" in the local part of the first To address',
  'token.not-first-recipient': 'The tokenized address is in To, but not first (Reply All)',
  'token.in-other-header': 'The tokenized address is only in Cc, Delivered-To, X-Original-To, Received and the like',
  'token.only-in-calendar': "Only the attached calendar's ORGANIZER carries the token",
  'token.to-bare-address': 'The first To address is Sending.Address without "+token"',
  'token.other-recipient': 'The first To address is another address altogether',
  'token.absent': 'No trace of a token anywhere in the message',
};

/** Headers other than `To` where a delivery or a client may leave the tokenized address. */
export const OTHER_RECIPIENT_HEADERS = [
  'Cc',
  'Bcc',
  'Delivered-To',
  'X-Original-To',
  'Envelope-To',
  'X-Envelope-To',
  'X-Delivered-To',
  'X-Forwarded-To',
  'X-Forwarded-For',
  'Resent-To',
  'Resent-Cc',
  'Apparently-To',
  'Original-Recipient',
  'X-Rcpt-To',
  'Received',
];

const UUID_ANY = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

interface Server {
  address: string;
  local: string;
  domain: string;
}

/** What follows `local+` (or `local%2B`) when `addr` is the server address with a sub-address. */
interface Tokenized {
  address: string;
  suffix: string;
  delimiter: string;
  /** The local part is in quotes ("calendar+…"@…): the suffix ends with the closing quote. */
  quoted: boolean;
}

/**
 * A local part in quotes, `"calendar+token"@example.com`, is the same mailbox in mail syntax, but
 * Python 2.7's `email.utils.parseaddr` keeps the quotes in the address it returns, and the server's
 * `_extractToken` splits that text at "@" and "+" (CalendarServer-9.2 inbound.py
 * `MailReceiver.processReply`, `_extractToken`; the same in 2.2–8.x): the token it reads runs up to
 * and including the closing quote. Returns the local part without its opening quote (the closing
 * one is kept, as the server keeps it), or the local part as it is.
 */
function unquotedLocal(local: string): { local: string; quoted: boolean } {
  return local.length >= 2 && local.startsWith('"') && local.endsWith('"') ? { local: local.slice(1), quoted: true } : { local, quoted: false };
}

function tokenizedOf(addr: string, server: Server): Tokenized | null {
  const at = addr.lastIndexOf('@');
  if (at < 0) return null;
  const { local, quoted } = unquotedLocal(addr.slice(0, at));
  const domain = addr.slice(at + 1);
  if (domain.toLowerCase() !== server.domain.toLowerCase()) return null;
  if (local.slice(0, server.local.length).toLowerCase() !== server.local.toLowerCase()) return null;
  const rest = local.slice(server.local.length);
  // "+" (or its percent-encoding) then anything; another delimiter only when a UUID follows.
  const m = /^(\+|%2b)(.*)$/is.exec(rest) ?? /^([-=_.~])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(rest);
  return m ? { address: addr, delimiter: m[1]!, suffix: m[2]!, quoted } : null;
}

function isBare(addr: string, server: Server): boolean {
  const at = addr.lastIndexOf('@');
  const { local, quoted } = unquotedLocal(at < 0 ? addr : addr.slice(0, at));
  const plain = quoted ? `${local.slice(0, -1)}${addr.slice(at)}` : addr;
  return plain.toLowerCase() === server.address.toLowerCase();
}

/** Addresses written in a header value, plus `for <...>` of Received lines. */
function addressesIn(name: string, value: string): string[] {
  if (name.toLowerCase() === 'received') {
    return [...value.matchAll(/\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?/gi)].map((m) => m[1]!);
  }
  const list = splitAddressList(value.replace(/^\s*rfc822\s*;/i, '')).map((a) => a.address);
  return list.filter(Boolean);
}

interface Scan {
  server: Server | null;
  toHeader: string | null;
  toList: string[];
  first: string;
  firstTokenized: Tokenized | null;
  /** Tokenized server addresses in To after the first. */
  laterInTo: Array<{ index: number; address: string }>;
  /** Other headers holding a tokenized address (or a UUID when the server address is unusable). */
  otherHeaders: Array<{ header: string; value: string }>;
  /** Tokenized ORGANIZER values in calendar parts. */
  calendarOrganizers: Array<{ part: string; organizer: string }>;
  messageId: string | null;
  fromHeader: string | null;
}

function traceIn(addr: string, server: Server | null): boolean {
  return server ? tokenizedOf(addr, server) !== null : UUID_ANY.test(addr);
}

function scan(input: MessageInput, ctx: TokenCauseContext): Scan {
  const server = serverAddress(ctx.sendingAddress);
  const toHeader = input.headers.get('To') ?? null;
  const toList = toHeader ? splitAddressList(toHeader).map((a) => a.address) : [];
  const first = parseaddr(toHeader).address;
  const laterInTo = toList
    .map((address, index) => ({ index, address }))
    .filter(({ index, address }) => index > 0 && traceIn(address, server));
  const otherHeaders: Array<{ header: string; value: string }> = [];
  for (const [name, value] of input.headers.entries()) {
    if (!OTHER_RECIPIENT_HEADERS.some((h) => h.toLowerCase() === name.toLowerCase())) continue;
    if (addressesIn(name, value).some((a) => traceIn(a, server))) otherHeaders.push({ header: name, value });
  }
  const calendarOrganizers: Array<{ part: string; organizer: string }> = [];
  for (const p of walkParts(input.root)) {
    if (p.type !== 'text/calendar' && p.type !== 'application/ics') continue;
    const body = input.bodies.get(p.part);
    if (!body) continue;
    for (const org of propertyValues(body.toString('utf8'), 'ORGANIZER')) {
      if (traceIn(stripMailto(org), server)) calendarOrganizers.push({ part: p.part, organizer: org });
    }
  }
  return {
    server,
    toHeader,
    toList,
    first,
    firstTokenized: server && first ? tokenizedOf(first, server) : null,
    laterInTo,
    otherHeaders,
    calendarOrganizers,
    messageId: input.headers.get('Message-ID') ?? null,
    fromHeader: input.headers.get('From') ?? null,
  };
}

type Cause = Omit<Finding, 'id' | 'severity'> & { id: TokenCauseId; severity?: Severity };

/** What kind of damage turned a token into `suffix`. */
function malformation(t: Tokenized): string | null {
  const { suffix, delimiter } = t;
  if (t.quoted && delimiter === '+') return 'quoted';
  if (TOKEN_RE.test(suffix) && delimiter === '+') return null;
  if (suffix.includes('+')) return null; // extra-plus, not this
  let decoded = suffix;
  try {
    decoded = decodeURIComponent(suffix);
  } catch {
    /* keep as is */
  }
  if (delimiter.toLowerCase() === '%2b' || decoded !== suffix) return 'percent-encoded';
  if (delimiter !== '+') return `"+" replaced by "${delimiter}"`;
  if (TOKEN_RE.test(suffix.toLowerCase())) return 're-cased (the lookup is exact, tokens are lower case)';
  if (/^[0-9a-f-]{1,35}$/i.test(suffix)) return 'truncated';
  if (suffix === '') return 'empty';
  return 'not a UUID';
}

function malformed(s: Scan): Cause[] {
  const t = s.firstTokenized;
  const kind = t ? malformation(t) : null;
  if (!t || !kind) return [];
  if (kind === 'quoted') {
    return [
      {
        id: 'token.malformed',
        path: 'message.headers.To',
        message: `The first To address ${t.address} has its local part in quotes. The server keeps the quotes, splits the address at "@" and "+", and takes what follows "+" up to and including the closing quote (${t.suffix}) as the token: no invitation carries that token, so the server does not recognize it.`,
        evidence: { messageId: s.messageId, To: s.toHeader, suffix: t.suffix, kind: 'local part in quotes', expected: 'xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx (lower case, no quotes)' },
        fix: `The attendee's client, or a relay on the way, wrote the address with quotes ("${s.server?.local ?? 'calendar'}+<token>"@…), which mail allows but the server does not undo. Ask the attendee to answer the original invitation with the Accept/Decline buttons; check any mail rule or relay that rewrites recipients.`,
      },
    ];
  }
  return [
    {
      id: 'token.malformed',
      path: 'message.headers.To',
      message: `The first To address ${t.address} carries "${t.suffix}" after "${t.delimiter}": ${kind}, not the lower-case UUID the server issued, so the token is not found.`,
      evidence: { messageId: s.messageId, To: s.toHeader, suffix: t.suffix, kind, expected: 'xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx (lower case)' },
      fix:
        'Something between the invitation and this reply rewrote the address (a client\'s address book, a gateway that re-cases or URL-encodes addresses, a line cut). Ask the attendee to answer the original invitation with the Accept/Decline buttons; check any mail rule or relay that rewrites recipients.',
    },
  ];
}

function extraPlus(s: Scan, ctx: TokenCauseContext): Cause[] {
  if (!s.first) return [];
  const local = s.first.slice(0, s.first.lastIndexOf('@'));
  if ((local.match(/\+/g) ?? []).length < 2) return [];
  const serverPlus = s.server?.local.includes('+') ?? false;
  return [
    {
      id: 'token.extra-plus',
      path: 'message.headers.To',
      message: `The first To address ${s.first} has more than one "+" in its local part; the server splits on "+" and expects exactly two pieces, so it finds no token.`,
      evidence: { messageId: s.messageId, To: s.toHeader, sendingAddress: ctx.sendingAddress },
      fix: serverPlus
        ? `Sending.Address "${ctx.sendingAddress}" itself contains "+": use a mailbox name without "+" (and without "-" if the MTA splits on it), update Scheduling.iMIP.Sending.Address, and send the invitations again.`
        : 'A second "+tag" was added after the token (a forwarding service or mail rule that tags recipients): remove that rewriting so replies reach calendar+<token>@ unchanged.',
    },
  ];
}

function notFirst(s: Scan): Cause[] {
  if (!s.laterInTo.length || s.firstTokenized) return [];
  const hit = s.laterInTo[0]!;
  return [
    {
      id: 'token.not-first-recipient',
      path: 'message.headers.To',
      message: `The tokenized address ${hit.address} is recipient ${hit.index + 1} in To; the server reads only the first To address (${s.first || 'none'}).`,
      evidence: { messageId: s.messageId, To: s.toHeader, position: hit.index + 1, first: s.first },
      fix: `This is what Reply All does. Ask the attendee to use Reply, not Reply All, or to put ${hit.address} first in To; better, to answer with the Accept/Decline buttons, which address only the organizer.`,
    },
  ];
}

function inOtherHeader(s: Scan): Cause[] {
  if (!s.otherHeaders.length || s.firstTokenized || s.laterInTo.length) return [];
  const names = [...new Set(s.otherHeaders.map((h) => h.header))];
  const delivery = names.every((n) => !/^(cc|bcc|resent-cc)$/i.test(n));
  return [
    {
      id: 'token.in-other-header',
      path: `message.headers.${names[0]}`,
      message: `The tokenized address appears only in ${names.join(', ')}, never in To; the server reads the first To address only, not Cc, Delivered-To or the envelope.`,
      evidence: { messageId: s.messageId, To: s.toHeader, headers: Object.fromEntries(names.map((n) => [n, s.otherHeaders.filter((h) => h.header === n).map((h) => h.value)])) },
      fix: delivery
        ? 'The mail was delivered to the tokenized address, but To does not carry it: the attendee sent it as Bcc, or a list/forwarder rewrote To. Ask for a plain Reply to the invitation; remove any To rewriting on the way.'
        : 'The attendee put the calendar address in Cc/Bcc. Ask them to reply with the calendar address as the first To recipient (plain Reply, or the Accept/Decline buttons).',
    },
  ];
}

function onlyInCalendar(s: Scan): Cause[] {
  if (!s.calendarOrganizers.length || s.firstTokenized || s.laterInTo.length || s.otherHeaders.length) return [];
  const org = s.calendarOrganizers[0]!;
  const rescue = `to rescue this answer, resend the mail to ${stripMailto(org.organizer)} with that address as the only To.`;
  // Where the reply went says why: the bare calendar address lost its "+token" on the way
  // (token.to-bare-address says how); any other address is what the client took from From.
  const fix =
    s.server && s.first && isBare(s.first, s.server)
      ? `The reply went to the calendar address without "+token" (token.to-bare-address names the ways that happens). Ask the attendee to answer with the Accept/Decline buttons; ${rescue}`
      : `The attendee's client replied to the invitation's From (the organizer's own address) rather than to the ORGANIZER/Reply-To. Ask them to answer with the Accept/Decline buttons; ${rescue}`;
  return [
    {
      id: 'token.only-in-calendar',
      path: 'message.calendar.ORGANIZER',
      message: `The attached calendar's ORGANIZER is the tokenized ${stripMailto(org.organizer)}, but no header carries it: the reply was addressed to ${s.first || 'nobody'} instead.`,
      evidence: { messageId: s.messageId, To: s.toHeader, ORGANIZER: org.organizer, part: org.part },
      fix,
    },
  ];
}

function toBare(s: Scan, ctx: TokenCauseContext): Cause[] {
  if (!s.server || !s.first || !isBare(s.first, s.server)) return [];
  return [
    {
      id: 'token.to-bare-address',
      path: 'message.headers.To',
      message: `The first To address is the bare Sending.Address ${s.first}, without "+token".`,
      evidence: { messageId: s.messageId, To: s.toHeader, sendingAddress: ctx.sendingAddress },
      fix:
        'The "+token" was dropped: check that invitations carry Reply-To calendar+<token>@ (imip send-test), that the attendee\'s provider keeps "+" in addresses (Outlook.com/Office 365 strip it from ORGANIZER, ccs-calendarserver #541), and that no alias rewrites the recipient. If the organizer has no e-mail address, From is the bare Sending.Address and clients that reply to From hit it: give organizers an e-mail address.',
    },
  ];
}

function otherRecipient(s: Scan): Cause[] {
  if (!s.first || s.firstTokenized || (s.server && isBare(s.first, s.server))) return [];
  if (s.server && s.first.toLowerCase().startsWith(`${s.server.local.toLowerCase()}+`)) return [];
  // The server does not compare the address with its own: whatever follows the one "+" of the
  // local part is its token (CalendarServer-9.2 inbound.py `_extractToken`, the same in 2.2–8.x);
  // with no "+" it finds none.
  const token = extractToken(s.first);
  return [
    {
      id: 'token.other-recipient',
      path: 'message.headers.To',
      message: token
        ? TOKEN_RE.test(token)
          ? `The first To address is ${s.first}, not the server's address. The server does not check the address: it takes what follows its "+" (${token}) as the token and looks it up as if the reply had gone to its own address with that token.`
          : `The first To address is ${s.first}, not the server's address. The server does not check the address: it takes what follows its "+" (${token}) as the token, which is no token it issues (a lower-case UUID), so it does not recognize it.`
        : `The first To address is ${s.first}, not the server's address: the server looks for the token there and finds none.`,
      evidence: { messageId: s.messageId, To: s.toHeader },
      fix: `The reply went to ${s.first} (often the organizer's own address, taken from From, or a list) and only then reached this mailbox. Ask the attendee to answer with the Accept/Decline buttons so it goes to the ORGANIZER address; do not forward replies to the calendar mailbox.`,
    },
  ];
}

function absent(s: Scan, causes: Cause[]): Cause[] {
  const traced =
    s.firstTokenized || s.laterInTo.length || s.otherHeaders.length || s.calendarOrganizers.length || UUID_ANY.test(s.toHeader ?? '');
  if (traced || causes.some((c) => c.id === 'token.extra-plus')) return [];
  return [
    {
      id: 'token.absent',
      severity: 'warning',
      path: 'message',
      message: 'No trace of a token anywhere: no tokenized address in any header and none in an attached calendar.',
      evidence: { messageId: s.messageId, To: s.toHeader, From: s.fromHeader },
      fix: 'This mail is not an answer to an invitation from this server (a new mail, spam, or an answer whose provider stripped "+" everywhere). Nothing links it to an event; delete it or forward it to the organizer by hand.',
    },
  ];
}

/**
 * Every reason this message has no usable token, most specific first; `[]` when the first To
 * address carries a well-formed token, and for a DSN (its token is the returned calendar's
 * ORGANIZER, read by `processDSN`, not a header).
 */
export function tokenCauses(input: MessageInput, ctx: TokenCauseContext): Finding[] {
  if (isDeliveryReport(input.root)) return [];
  const s = scan(input, ctx);
  if (s.firstTokenized && TOKEN_RE.test(s.firstTokenized.suffix) && extractToken(s.first) === s.firstTokenized.suffix) return [];
  const causes: Cause[] = [
    ...malformed(s),
    ...extraPlus(s, ctx),
    ...notFirst(s),
    ...inOtherHeader(s),
    ...onlyInCalendar(s),
    ...toBare(s, ctx),
    ...otherRecipient(s),
  ];
  causes.push(...absent(s, causes));
  return causes
    .sort((a, b) => TOKEN_CAUSE_IDS.indexOf(a.id) - TOKEN_CAUSE_IDS.indexOf(b.id))
    .map(({ severity, ...c }) => ({ ...c, severity: severity ?? 'error' }));
}
