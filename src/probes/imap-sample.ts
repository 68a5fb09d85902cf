/**
 * The newest messages of the inbox, which `test-mailbox` looks at to judge whether the mailbox
 * is dedicated to the server: UID, flags, ENVELOPE, BODYSTRUCTURE and a few header fields of each,
 * read with BODY.PEEK (nothing is marked read; the inbox is open with EXAMINE).
 *
 * Read with our own FETCH on the connection imapflow opened and logged in, as the poll reads
 * (../mailbox/imap-raw-session.ts), and parsed with the poll's parsers. imapflow's own FETCH
 * decodes every subject, name and structure parameter with libmime, which loads iconv-lite, and
 * has iconv-lite build a table for a double-byte charset: on 50 realistic messages `test-mailbox`
 * took 460 ms that way and takes 323 ms this way (2-core machine). Where the connection cannot be
 * borrowed (COMPRESS in use), imapflow's FETCH reads the same items.
 */
import type { FetchMessageObject } from 'imapflow';
import type { ImapFlow } from '../mailbox/imapflow-module.js';
import { RawSession } from '../mailbox/imap-raw-session.js';
import { wireText, type WireValue } from '../mailbox/imap-wire.js';
import { fromBodyStructure, fromWireBodyStructure, wireEnvelope, type ImapAddress, type ImapEnvelope } from '../imip/mime-bodystructure.js';
import { decodeWords } from '../imip/mime-headers.js';
import type { MimePart } from '../imip/mime-part.js';
import type { SampledMessage } from './probe-report.js';

/** Header fields fetched with each message (besides ENVELOPE): what `sampleKind` reads. */
export const SAMPLE_HEADERS = ['to', 'delivered-to', 'content-type', 'list-id', 'list-unsubscribe', 'precedence', 'auto-submitted', 'return-path'];

/** What the sample FETCH asks for, as the evidence shows it. */
export const SAMPLE_ITEMS = 'UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (...)]';

/** The sampled messages of `range` (message sequence numbers), oldest first. */
export async function readSample(client: ImapFlow, range: string): Promise<SampledMessage[]> {
  const byUid = new Map<number, Fetched>();
  const raw = RawSession.borrow(client, (attrs) => collect(byUid, attrs));
  if (!raw) {
    const messages = await client.fetchAll(range, { uid: true, flags: true, envelope: true, bodyStructure: true, headers: SAMPLE_HEADERS });
    return messages.map((m) => toSample(fromFlow(m), true));
  }
  try {
    await raw.command(`FETCH ${range} (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (${SAMPLE_HEADERS.join(' ').toUpperCase()})])`);
  } finally {
    raw.release();
  }
  return [...byUid.values()].filter((m) => m.structure || m.envelope || m.headers !== undefined).sort((a, b) => a.uid - b.uid).map((m) => toSample(m, false));
}

/** One message's answer, from either FETCH. */
interface Fetched {
  uid: number;
  flags?: string[];
  envelope?: ImapEnvelope;
  structure?: MimePart;
  headers?: string;
}

/**
 * Files one untagged FETCH answer by its UID. A server may split a message's data over several
 * answers (RFC 3501 §7.4.2); an answer without a UID (another session changing flags) is not
 * about this FETCH.
 */
function collect(byUid: Map<number, Fetched>, attrs: WireValue[]): void {
  let uid: number | undefined;
  for (let k = 0; k + 1 < attrs.length; k += 2) if (attrs[k] === 'UID') uid = Number(wireText(attrs[k + 1]));
  if (uid === undefined || !Number.isSafeInteger(uid)) return;
  let m = byUid.get(uid);
  if (!m) byUid.set(uid, (m = { uid }));
  for (let k = 0; k + 1 < attrs.length; k += 2) {
    const name = attrs[k];
    const value = attrs[k + 1] ?? null;
    if (name === 'FLAGS') m.flags = Array.isArray(value) ? value.map((f) => wireText(f) ?? '') : [];
    else if (name === 'ENVELOPE') m.envelope = wireEnvelope(value);
    else if (name === 'BODYSTRUCTURE') m.structure = fromWireBodyStructure(value);
    else if (typeof name === 'string' && name.startsWith('BODY[HEADER.FIELDS')) m.headers = wireText(value) ?? '';
  }
}

/** imapflow's answer in the same form; its structure goes through the poll's own converter. */
function fromFlow(m: FetchMessageObject): Fetched {
  return {
    uid: m.uid,
    ...(m.flags ? { flags: [...m.flags] } : {}),
    ...(m.envelope ? { envelope: m.envelope } : {}),
    ...(m.bodyStructure ? { structure: fromBodyStructure(m.bodyStructure) } : {}),
    ...(m.headers ? { headers: m.headers.toString('utf8') } : {}),
  };
}

function partHasCalendar(part: MimePart, depth = 0): boolean {
  if (depth > 20) return false;
  if (part.type === 'text/calendar' || part.type === 'application/ics') return true;
  if (/\.ics$/i.test(part.dispositionParams.filename ?? part.params.name ?? '')) return true;
  if (part.embedded && partHasCalendar(part.embedded.root, depth + 1)) return true;
  return part.children.some((c) => partHasCalendar(c, depth + 1));
}

/** `decoded`: imapflow's ENVELOPE comes with names and subject decoded; ours as sent. */
function toSample(m: Fetched, decoded: boolean): SampledMessage {
  const env = m.envelope;
  return {
    id: `uid ${m.uid}`,
    headers: m.headers ?? '',
    from: addressText(env?.from?.[0], decoded),
    subject: decoded ? (env?.subject ?? '') : decodeWords(env?.subject ?? ''),
    to: (env?.to ?? []).map((a) => a.address ?? '').filter(Boolean),
    calendarPart: m.structure ? partHasCalendar(m.structure) : null,
    seen: m.flags ? m.flags.some((f) => f.toLowerCase() === '\\seen') : undefined,
    ...(m.structure ? { contentType: m.structure.type } : {}),
  };
}

/** `Name <address>`, or whichever of the two there is. */
function addressText(a: ImapAddress | undefined, decoded: boolean): string {
  if (!a) return '';
  const name = a.name && !decoded ? decodeWords(a.name) : a.name;
  return name && a.address ? `${name} <${a.address}>` : a.address || name || '';
}
