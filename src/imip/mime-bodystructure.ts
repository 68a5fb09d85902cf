/**
 * The IMAP path: imapflow's parsed `bodyStructure` (imapflow 2.x `lib/tools.js`
 * `parseBodystructure`, type `MessageStructureObject`) turned into the same {@link MimePart} tree
 * the raw parser builds, so `classify()` does not care how the message was read
 * (the server fetches RFC822, `IMAP4DownloadProtocol.fetchNextMessage`; we fetch HEADER +
 * BODYSTRUCTURE and only the parts a verdict needs).
 *
 * imapflow gives the root no `part`, and gives the encapsulated body of a message/rfc822 part
 * `p` the number `p` even when it is not a multipart (IMAP numbers that body `p.1`), so numbers are
 * recomputed here with the rules in mime-part.ts rather than copied.
 */
import { bufferView } from './bytes.js';
import { HeaderList, paramsFromPairs } from './mime-headers.js';
import { childNumber, embeddedRootNumber, isMessageType, normaliseType, type MimePart } from './mime-part.js';

/** imapflow `MessageAddressObject`. */
export interface ImapAddress {
  name?: string | undefined;
  address?: string | undefined;
}

/** imapflow `MessageEnvelopeObject`. */
export interface ImapEnvelope {
  date?: Date | string | undefined;
  subject?: string | undefined;
  messageId?: string | undefined;
  inReplyTo?: string | undefined;
  from?: ImapAddress[] | undefined;
  sender?: ImapAddress[] | undefined;
  replyTo?: ImapAddress[] | undefined;
  to?: ImapAddress[] | undefined;
  cc?: ImapAddress[] | undefined;
  bcc?: ImapAddress[] | undefined;
}

/** imapflow `MessageStructureObject` (the fields used here; structurally compatible). */
export interface ImapBodyStructure {
  part?: string | undefined;
  type: string;
  parameters?: Record<string, string> | undefined;
  id?: string | undefined;
  encoding?: string | undefined;
  size?: number | undefined;
  envelope?: ImapEnvelope | undefined;
  disposition?: string | undefined;
  dispositionParameters?: Record<string, string> | undefined;
  childNodes?: ImapBodyStructure[] | undefined;
  lineCount?: number | undefined;
}

const MAX_DEPTH = 100;

function lowerKeys(params: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    const key = k.toLowerCase();
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    out[key] = String(v);
  }
  return out;
}

function formatAddresses(list: ImapAddress[] | undefined): string | null {
  if (!list?.length) return null;
  return list
    .map((a) => {
      const address = a.address ?? '';
      if (!a.name) return address ? `<${address}>` : '';
      const name = /[",;:<>@()[\]\\]/.test(a.name) ? `"${a.name.replace(/(["\\])/g, '\\$1')}"` : a.name;
      return address ? `${name} <${address}>` : `${name}:;`;
    })
    .join(', ');
}

/** The header fields an IMAP ENVELOPE carries, as a {@link HeaderList}. */
export function headersFromEnvelope(env: ImapEnvelope | undefined): HeaderList {
  if (!env) return new HeaderList();
  const fields: Array<[string, string]> = [];
  const add = (name: string, value: string | null | undefined): void => {
    if (value) fields.push([name, value]);
  };
  add('Date', env.date instanceof Date ? env.date.toUTCString() : env.date);
  add('Subject', env.subject);
  add('From', formatAddresses(env.from));
  add('Sender', formatAddresses(env.sender));
  add('Reply-To', formatAddresses(env.replyTo));
  add('To', formatAddresses(env.to));
  add('Cc', formatAddresses(env.cc));
  add('Bcc', formatAddresses(env.bcc));
  add('In-Reply-To', env.inReplyTo);
  add('Message-ID', env.messageId);
  return new HeaderList(fields);
}

function convert(bs: ImapBodyStructure, number: string, depth: number): MimePart {
  const type = normaliseType(bs.type, 'text/plain');
  const part: MimePart = {
    part: number,
    type,
    params: lowerKeys(bs.parameters),
    disposition: bs.disposition ? bs.disposition.toLowerCase() : null,
    dispositionParams: lowerKeys(bs.dispositionParameters),
    encoding: (bs.encoding || '7bit').toLowerCase(),
    size: typeof bs.size === 'number' && Number.isFinite(bs.size) ? bs.size : 0,
    children: [],
  };
  if (depth >= MAX_DEPTH) return part;
  const inner = bs.childNodes?.[0];
  if (isMessageType(type) && inner) {
    const rootNumber = embeddedRootNumber(number, normaliseType(inner.type, 'text/plain').startsWith('multipart/'));
    part.embedded = { headers: headersFromEnvelope(bs.envelope), root: convert(inner, rootNumber, depth + 1) };
  } else if (type.startsWith('multipart/')) {
    part.children = (bs.childNodes ?? []).map((c, i) => convert(c, childNumber(number, i + 1), depth + 1));
  }
  return part;
}

/**
 * The section to download for a part number: imapflow's `download(uid, '1')` fetches `TEXT` for a
 * single-part message, which is our part `''`. Download with `{ uid: true, decodeText: false }`:
 * by default imapflow converts text parts to UTF-8, which would hide the non-UTF-8 calendars the
 * server cannot read (`twistedcaldav/ical.py` `Component.fromString` decodes as UTF-8, 3.x on).
 */
export function imapDownloadPart(part: string): string {
  return part || '1';
}

/**
 * Convert imapflow's `bodyStructure` (from `fetch(range, { bodyStructure: true })`) to a
 * {@link MimePart} tree numbered as IMAP numbers parts (the top-level entity is `''`).
 */
export function fromBodyStructure(bs: ImapBodyStructure): MimePart {
  return convert(bs, '', 0);
}

// ---- straight from the wire ------------------------------------------------------------------
//
// The poll's FETCH pipeline parses BODYSTRUCTURE itself (src/mailbox/imap-wire.ts) and builds the
// part tree here in one pass, with only what the verdict reads: type, parameters, encoding, size,
// disposition, children, and for message/rfc822 the envelope and the inner structure (RFC 3501
// §7.4.2, §9 `body`). Parameters go through the raw parser's own rules (`paramsFromPairs`, the
// core of `parseParams`), so RFC 2231 continuations and encoded words come out exactly as they do
// when the message is read whole.

/** A value of the parsed IMAP response: atom/string, literal, NIL or list (imap-wire.ts). */
export type WireBodyValue = string | Uint8Array | null | WireBodyValue[];

function wStr(v: WireBodyValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return bufferView(v).toString('utf8');
  return null;
}

/** `("NAME" "value" ...)` → the parameters as the raw path's `parseParams` gives them. */
function wireParams(v: WireBodyValue | undefined): Record<string, string> {
  if (!Array.isArray(v) || v.length < 2) return {};
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < v.length; i += 2) {
    const k = wStr(v[i]);
    const val = wStr(v[i + 1]);
    // A name a header could not carry is dropped, as the raw path would never see it.
    if (!k || val === null || /[\s;="]/.test(k)) continue;
    pairs.push([k, val]);
  }
  return pairs.length ? paramsFromPairs(pairs) : {};
}

/** ENVELOPE address list → `Name <mailbox@host>, ...` (group syntax: `Name:;`). */
function wireAddresses(v: WireBodyValue | undefined): ImapAddress[] | undefined {
  if (!Array.isArray(v) || !v.length) return undefined;
  const out: ImapAddress[] = [];
  for (const a of v) {
    if (!Array.isArray(a)) continue;
    const name = wStr(a[0]) ?? undefined;
    const mailbox = wStr(a[2]) ?? '';
    const host = wStr(a[3]);
    if (!host) {
      if (name || mailbox) out.push({ name: name || mailbox, address: '' });
      continue;
    }
    out.push({ ...(name ? { name } : {}), address: `${mailbox}@${host}` });
  }
  return out.length ? out : undefined;
}

/** RFC 3501 envelope: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. */
/** An ENVELOPE as parsed from the wire; names and subject as sent (RFC 2047 words not decoded). */
export function wireEnvelope(v: WireBodyValue | undefined): ImapEnvelope | undefined {
  if (!Array.isArray(v)) return undefined;
  const s = (i: number): string | undefined => wStr(v[i]) ?? undefined;
  const env: ImapEnvelope = {};
  const assign = <K extends keyof ImapEnvelope>(k: K, val: ImapEnvelope[K]): void => {
    if (val !== undefined) env[k] = val;
  };
  assign('date', s(0));
  assign('subject', s(1));
  assign('from', wireAddresses(v[2]));
  assign('sender', wireAddresses(v[3]));
  assign('replyTo', wireAddresses(v[4]));
  assign('to', wireAddresses(v[5]));
  assign('cc', wireAddresses(v[6]));
  assign('bcc', wireAddresses(v[7]));
  assign('inReplyTo', s(8)?.trim());
  assign('messageId', s(9)?.trim());
  return env;
}

function wireDisposition(part: MimePart, v: WireBodyValue | undefined): void {
  if (!Array.isArray(v) || !v.length) return;
  const d = wStr(v[0]);
  if (d) part.disposition = d.toLowerCase();
  part.dispositionParams = wireParams(v[1]);
}

function wireConvert(node: WireBodyValue, number: string, depth: number): MimePart {
  const part: MimePart = { part: number, type: 'text/plain', params: {}, disposition: null, dispositionParams: {}, encoding: '7bit', size: 0, children: [] };
  if (!Array.isArray(node)) return part;
  if (Array.isArray(node[0])) {
    // body-type-mpart: 1*body SP media-subtype [SP body-ext-mpart]
    let i = 0;
    const kids: WireBodyValue[] = [];
    while (Array.isArray(node[i])) kids.push(node[i++]!);
    part.type = normaliseType(`multipart/${wStr(node[i++]) ?? ''}`, 'text/plain');
    part.params = wireParams(node[i++]);
    wireDisposition(part, node[i]);
    if (depth < MAX_DEPTH && part.type.startsWith('multipart/')) part.children = kids.map((k, n) => wireConvert(k, childNumber(number, n + 1), depth + 1));
    return part;
  }
  // body-type-1part: type subtype params id description encoding size [envelope body lines | lines] [ext]
  part.type = normaliseType(`${wStr(node[0]) ?? ''}/${wStr(node[1]) ?? ''}`, 'text/plain');
  part.params = wireParams(node[2]);
  part.encoding = (wStr(node[5]) || '7bit').toLowerCase();
  const size = Number(wStr(node[6]));
  part.size = Number.isFinite(size) && size >= 0 ? size : 0;
  let i = 7;
  if (isMessageType(part.type) && Array.isArray(node[8])) {
    const inner = node[8];
    if (depth < MAX_DEPTH) {
      const innerIsMultipart = Array.isArray(inner[0]);
      const rootNumber = embeddedRootNumber(number, innerIsMultipart);
      part.embedded = { headers: headersFromEnvelope(wireEnvelope(node[7])), root: wireConvert(inner, rootNumber, depth + 1) };
    }
    i = 10;
  } else if (part.type.startsWith('text/')) {
    // Line count; some servers leave it out (then the next field is already a list or missing).
    if (!Array.isArray(node[i])) i++;
  }
  // body-ext-1part: md5 [disposition [language [location]]]
  i++;
  wireDisposition(part, node[i]);
  return part;
}

/** A BODYSTRUCTURE as parsed from the wire → the {@link MimePart} tree (top-level entity `''`). */
export function fromWireBodyStructure(node: WireBodyValue): MimePart {
  return wireConvert(node, '', 0);
}
