/**
 * Does Python split a message the way its IMAP server's BODYSTRUCTURE says?
 *
 * Calendar Server fetches every message whole and splits it with Python 2.7's `email` package
 * (`IMAP4DownloadProtocol.cbGotMessage`, then `email.message_from_string`). A poll reads a large
 * message by its BODYSTRUCTURE and only the parts a verdict needs, which is the IMAP server's own
 * parse. The two differ on malformed MIME, most often in a header block: a line that is not a
 * header (Python ends the block there, and every field after it is body to the server), a
 * Content-Type Python reads otherwise (`multipart / mixed`, two boundary parameters), or a
 * transfer encoding written `base64 ` (Python compares it as written).
 * Each part's header block is fetched (`BODY.PEEK[HEADER]`, `[p.MIME]`, `[p.HEADER]`, a few
 * hundred bytes each) and read here with the raw parser's rules; where one disagrees, the message
 * is read whole. Boundary lines inside the bodies are not looked at: only reading the whole message
 * would show a boundary line Python and the IMAP server read differently.
 */
import { decodeHeaderBytes, isHeaderLine, parseHeaderLines } from './mime-headers.js';
import { partFromHeaders, type MimePart } from './mime-part.js';

/** A part whose header block is checked, and the FETCH section that returns that block. */
export interface HeaderSection {
  /** `HEADER` (the message), `p.MIME` (a body part), `p.HEADER` (a message/rfc822 part's message). */
  section: string;
  part: MimePart;
  /** The type Python gives the part when its header names none. */
  defaultType: string;
}

/** Every part's header section, in message order (walked without recursion: a structure may nest deep). */
export function headerSections(root: MimePart): HeaderSection[] {
  const out: HeaderSection[] = [];
  const stack: HeaderSection[] = [{ section: 'HEADER', part: root, defaultType: 'text/plain' }];
  while (stack.length) {
    const s = stack.pop()!;
    out.push(s);
    const { part } = s;
    const next: HeaderSection[] = [];
    const childDefault = part.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const child of part.children) next.push({ section: `${child.part}.MIME`, part: child, defaultType: childDefault });
    if (part.embedded) next.push({ section: `${part.part}.HEADER`, part: part.embedded.root, defaultType: 'text/plain' });
    for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]!);
  }
  return out;
}

/** Whether a FETCH section is one of the header blocks {@link headerSections} names. */
export function isHeaderSection(section: string): boolean {
  return section === 'HEADER' || section.endsWith('.MIME') || section.endsWith('.HEADER');
}

/**
 * The header blocks among a FETCH's sections as imapflow hands them over (`bodyParts`, keys in
 * lower case), keyed as {@link headerSections} names them.
 */
export function headerBlocksOf(bodyParts: Iterable<readonly [string, Buffer]>, into = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const [key, bytes] of bodyParts) {
    const section = key.toUpperCase();
    if (isHeaderSection(section)) into.set(section, bytes);
  }
  return into;
}

/** Where a part is, in words. */
function where(s: HeaderSection): string {
  return s.section === 'HEADER' ? 'the message' : s.section.endsWith('.HEADER') ? `the message in part ${s.section.slice(0, -7)}` : `part ${s.part.part}`;
}

/**
 * Why Python would split the message otherwise than its structure says, in words; null when every
 * header block reads the same to both. `fetched` maps each section to its bytes as the server sent
 * them; a section it did not send counts as a disagreement (the message is then read whole).
 */
export function structureDisagreement(sections: readonly HeaderSection[], fetched: ReadonlyMap<string, Uint8Array>): string | null {
  for (const s of sections) {
    const bytes = fetched.get(s.section);
    if (!bytes) return `the IMAP server sent no header block for ${where(s)}`;
    const { text } = decodeHeaderBytes(bytes);
    // Python's feedparser splits lines at CRLF, LF or a bare CR, and ends the header block at the
    // first line that is neither empty nor a header (headerRE).
    for (const line of text.split(/\r\n|\r|\n/)) {
      if (line === '') break;
      if (!isHeaderLine(line)) return `the header block of ${where(s)} has a line that is not a header, where Python's parser ends it`;
    }
    const python = partFromHeaders(parseHeaderLines(text, [], Number.MAX_SAFE_INTEGER).headers, s.part.part, s.defaultType);
    if (python.type !== s.part.type) return `Python reads the type of ${where(s)} as ${python.type}, the IMAP server as ${s.part.type}`;
    if (python.type.startsWith('multipart/') && python.params['boundary'] !== s.part.params['boundary']) {
      return `Python reads the boundary of ${where(s)} otherwise than the IMAP server`;
    }
    if (!python.type.startsWith('multipart/') && python.encoding !== s.part.encoding) {
      return `Python reads the transfer encoding of ${where(s)} as "${python.encoding}", the IMAP server as "${s.part.encoding}"`;
    }
  }
  return null;
}
