/**
 * The structural MIME model shared by the raw-message parser and the IMAP BODYSTRUCTURE path.
 * Part numbers follow IMAP (RFC 3501 §6.4.5): children of a multipart numbered `p` are `p.1`,
 * `p.2`...; the root of a message/rfc822 part `p` is `p` when it is a multipart, else `p.1`.
 * The top-level entity is `''` (fetch it as `TEXT`, or `1`, from IMAP).
 */
import { HeaderList, parseParams, pyLower, pyLstrip, pyStrip, pythonBoundary } from './mime-headers.js';

export interface MimePart {
  /** IMAP part number: `'1'`, `'1.2'`; `''` for the top-level entity. */
  part: string;
  /** Lower-case `type/subtype`, Python's `get_content_type()`: malformed → `text/plain`. */
  type: string;
  /** Lower-case keys; RFC 2231 continuations and encoded values decoded. */
  params: Record<string, string>;
  disposition: string | null;
  dispositionParams: Record<string, string>;
  /**
   * Lower-case Content-Transfer-Encoding, default `7bit`. From a raw message it is the header
   * value as the server's Python compares it (`self.get('content-transfer-encoding', '').lower()`
   * in `Message.get_payload`): leading white space is gone but trailing white space stays, so
   * `base64 ` is not base64 and the part is taken undecoded, as the server takes it. From IMAP it
   * is the server's BODYSTRUCTURE token.
   */
  encoding: string;
  /** Encoded octets of the body. */
  size: number;
  /** Body parts of a multipart; empty otherwise (a message/rfc822 part keeps its message in `embedded`). */
  children: MimePart[];
  /** For message/rfc822 (and message/global): the encapsulated message. */
  embedded?: { headers: HeaderList; root: MimePart };
  /** Set when the kept body was cut at the size cap. */
  truncated?: boolean;
  /**
   * Set when the server's Python keeps the body undecoded (base64 with incorrect padding,
   * uuencode without its begin or end line); the kept body is then the transfer-encoded text.
   */
  undecoded?: boolean;
  /** Why the body is undecoded, in words ("its base64 has incorrect padding"). */
  undecodedWhy?: string;
  /**
   * Set when decoding the body raises inside the server's `get_payload` (uuencode with an
   * illegal character): the exception's text. No body is kept.
   */
  decodeError?: string;
}

/** The IMAP number of the n-th (1-based) child of `parent`. */
export function childNumber(parent: string, n: number): string {
  return parent ? `${parent}.${n}` : String(n);
}

/** The IMAP number of the root entity of the message inside message/rfc822 part `parent`. */
export function embeddedRootNumber(parent: string, rootIsMultipart: boolean): string {
  return rootIsMultipart ? parent : childNumber(parent, 1);
}

/**
 * `get_content_type()`: the value stripped and lower-cased as Python 2 does both (ASCII white
 * space and A-Z only: a trailing no-break space stays, and `text/calendar\u00a0` is not a
 * calendar); not exactly one `/` → `text/plain`.
 */
export function normaliseType(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const t = pyLower(pyStrip(value));
  // Exactly one '/' (Python: len(ctype.split('/')) == 2).
  const slash = t.indexOf('/');
  return slash >= 0 && t.indexOf('/', slash + 1) < 0 ? t : 'text/plain';
}

/** Whether a part holds an encapsulated message whose structure is parsed. */
export function isMessageType(type: string): boolean {
  return type === 'message/rfc822' || type === 'message/global';
}

/** What comes before the first `;` of a Content-Type value (`ct.split(';', 1)[0]`). */
function typeField(ct: string): string {
  const semi = ct.indexOf(';');
  return semi < 0 ? ct : ct.slice(0, semi);
}

/** Build a part from its MIME headers (no body yet). */
export function partFromHeaders(headers: HeaderList, part: string, defaultType: string): MimePart {
  const ct = headers.get('Content-Type');
  const parsed = ct === undefined ? { value: '', params: {} } : parseParams(ct);
  // The boundary decides the structure: read as the server's Python reads it.
  const boundary = ct === undefined ? undefined : pythonBoundary(ct);
  if (boundary !== undefined) parsed.params['boundary'] = boundary;
  const cd = headers.get('Content-Disposition');
  const disp = cd === undefined ? null : parseParams(cd);
  const cte = headers.get('Content-Transfer-Encoding');
  return {
    part,
    // `_splitparam`: the type is what comes before the first `;`, quotes or not.
    type: ct === undefined ? defaultType : normaliseType(typeField(ct), defaultType),
    params: parsed.params,
    disposition: disp ? disp.value.toLowerCase() || null : null,
    dispositionParams: disp ? disp.params : {},
    encoding: (cte === undefined ? '' : pyLower(pyLstrip(cte))) || '7bit',
    size: 0,
    children: [],
  };
}

/**
 * Every part, depth first in message order, descending into encapsulated messages: the order of
 * Python's `Message.walk()` (used by `checkDSN` and `processReply`).
 */
export function walkParts(root: MimePart): MimePart[] {
  // A list, built with an explicit stack: a recursive generator made a generator object per part
  // and per level, about a tenth of everything a poll allocated.
  const out: MimePart[] = [];
  const stack: MimePart[] = [root];
  for (let p = stack.pop(); p; p = stack.pop()) {
    out.push(p);
    // Popped in message order: the children (each with its whole subtree), then the embedded message.
    if (p.embedded) stack.push(p.embedded.root);
    for (let i = p.children.length - 1; i >= 0; i--) stack.push(p.children[i]!);
  }
  return out;
}

/**
 * How deep the parts nest: 0 for a message of one part, 1 for a multipart of leaves, one more for
 * each multipart or encapsulated message inside another (each is one more level of Python's
 * email parser and of `Message.walk`).
 */
export function nestingDepth(root: MimePart): number {
  let deepest = 0;
  const stack: Array<[MimePart, number]> = [[root, 0]];
  for (let e = stack.pop(); e; e = stack.pop()) {
    const [p, d] = e;
    if (d > deepest) deepest = d;
    if (p.embedded) stack.push([p.embedded.root, d + 1]);
    for (const c of p.children) stack.push([c, d + 1]);
  }
  return deepest;
}

/** The first part numbered `number` in {@link walkParts} order, found without building the list. */
export function partByNumber(root: MimePart, number: string): MimePart | undefined {
  const stack: MimePart[] = [root];
  for (let p = stack.pop(); p; p = stack.pop()) {
    if (p.part === number) return p;
    if (p.embedded) stack.push(p.embedded.root);
    for (let i = p.children.length - 1; i >= 0; i--) stack.push(p.children[i]!);
  }
  return undefined;
}

/** Leaf parts only (no multipart container, no message/rfc822 wrapper). */
export function leafParts(root: MimePart): MimePart[] {
  return walkParts(root).filter((p) => !p.type.startsWith('multipart/') && !p.embedded);
}

/** The file name a client gave the part, from Content-Disposition or Content-Type. */
export function fileName(p: MimePart): string | null {
  return p.dispositionParams['filename'] ?? p.params['name'] ?? null;
}
