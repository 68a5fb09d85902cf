/**
 * The IMAP path: imapflow's parsed `bodyStructure` (imapflow 2.x `lib/tools.js`
 * `parseBodystructure`, type `MessageStructureObject`) turned into the same {@link MimePart} tree
 * the raw parser builds, so `classify()` does not care how the message was read
 * (calendarserver-imip.md §4.2: the server fetches RFC822; we fetch HEADER + BODYSTRUCTURE and
 * only the parts a verdict needs).
 *
 * imapflow gives the root no `part`, and gives the encapsulated body of a message/rfc822 part
 * `p` the number `p` even when it is not a multipart (IMAP numbers that body `p.1`), so numbers are
 * recomputed here with the rules in mime-part.ts rather than copied.
 */
import { HeaderList } from './mime-headers.js';
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
 * server cannot read (calendarserver-imip.md §11).
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
