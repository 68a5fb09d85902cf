/**
 * The Action word of a delivery report, read the way the server's `checkDSN` reads it
 * (CalendarServer-2.5 `twistedcaldav/mail.py` … 4.3, 5.0 … 9.2
 * `txdav/caldav/datastore/scheduling/imip/inbound.py`, `MailReceiver.checkDSN`, unchanged):
 *
 *     lines = str(deliveryStatus).split("\n")
 *     for line in lines:
 *         lower = line.lower()
 *         if lower.startswith("action:"):
 *             action = lower.split(' ')[1]
 *             break
 *
 * So the word is not the field's value but what Python 2.7's `email` package writes back:
 * - `feedparser` splits the body into blocks at blank lines; in each block the header fields end
 *   at the first line that is not one, and the rest of the block is kept verbatim as its body
 *   (`FeedParser._parsegen`, `_parse_headers`).
 * - `Generator` writes every field as `Name: ` plus `Header(value).encode()` (leading white space
 *   and folding gone, long values re-folded), or the value as it is when it has 8-bit bytes; the
 *   bodies go out unchanged, CR included (`Generator._write_headers`,
 *   `_handle_message_delivery_status`, `Header.encode`, `_split_ascii`).
 * - The first line in that text that starts with `action:` wins, a body line as much as a field.
 *   `split(' ')[1]` on a body line without a space raises IndexError, which fails the message.
 *
 * Checked against Python 2.7.18 (test/oracle/dsn-action.test.ts). The fields of the
 * delivery-status part's own MIME header, which Python writes first, are not read: an `Action`
 * field there is not a report field, and no MTA writes one.
 */
import { isHeaderLine, pyLower, pyLstrip } from './mime-headers.js';

export type StatusAction =
  /** `action` is the lower-case word, `''` for none after the space; null when no line matches. */
  | { action: string | null; raises?: undefined }
  /** The server's check raises on this body: the exception's text. */
  | { action: null; raises: string };

/** Python 2's `str.splitlines(True)`: lines with their ends (`\r\n`, `\r` or `\n`). */
function pyLinesKeepEnds(s: string): string[] {
  return s.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g) ?? [];
}

/** Python 2's `str.splitlines()`. */
function pySplitLines(s: string): string[] {
  return pyLinesKeepEnds(s).map((l) => l.replace(/(?:\r\n|\r|\n)$/, ''));
}

/** feedparser's `NLCRE.match`: a blank line, the end of a status block. */
function isBlank(line: string): boolean {
  return line.startsWith('\r') || line.startsWith('\n');
}

interface Block {
  fields: Array<[name: string, value: string]>;
  body: string;
}

/** `_parse_headers` over one block's field lines; a "From " last line goes back to the body. */
function parseFields(lines: string[]): { fields: Block['fields']; unread: string | null } {
  const fields: Block['fields'] = [];
  let name = '';
  let value: string[] = [];
  const store = (): void => {
    if (name) fields.push([name, value.join('').replace(/[\r\n]+$/, '')]);
    name = '';
    value = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line[0] === ' ' || line[0] === '\t') {
      if (name) value.push(line); // a continuation first in the block is dropped (a defect)
      continue;
    }
    store();
    if (line.startsWith('From ')) {
      if (i === lines.length - 1 && i > 0) return { fields, unread: line };
      continue; // the block's unixfrom, or a misplaced one (a defect)
    }
    const colon = line.indexOf(':');
    name = line.slice(0, colon);
    value = [pyLstrip(line.slice(colon + 1))];
  }
  store();
  return { fields, unread: null };
}

/** The blocks of a message/delivery-status body, as `FeedParser._parsegen` makes them. */
function statusBlocks(body: string): Block[] {
  const lines = pyLinesKeepEnds(body);
  const blocks: Block[] = [];
  let i = 0;
  for (;;) {
    const fieldLines: string[] = [];
    while (i < lines.length && !isBlank(lines[i]!) && isHeaderLine(lines[i]!)) fieldLines.push(lines[i++]!);
    const { fields, unread } = parseFields(fieldLines);
    const bodyLines = unread === null ? [] : [unread];
    while (i < lines.length && !isBlank(lines[i]!)) bodyLines.push(lines[i++]!);
    blocks.push({ fields, body: bodyLines.join('') });
    if (i < lines.length) i++; // the blank line
    if (i >= lines.length) return blocks;
  }
}

/**
 * The start of the first line `Header(value, maxlinelen=78, header_name=name).encode()` writes,
 * up to its first space: all that `split(' ')[1]` keeps. Values with 8-bit bytes are written as
 * they are (`_is8bitstring`).
 */
function writtenWord(name: string, value: string): string {
  const firstWord = (s: string): string => {
    const space = s.indexOf(' ');
    return space < 0 ? s : s.slice(0, space);
  };
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(value)) return firstWord(value.split('\n')[0]!);
  // `Header.encode`: a value that fits the first line (78 less the name, the colon, the space
  // and one) is kept whole and left-stripped (`_max_append`).
  const firstLen = 78 - name.length - 2 - 1;
  if (value.length <= firstLen) return firstWord(pyLstrip(value).split('\n')[0]!);
  // Longer values go through `_split_ascii`: each line left-stripped; a line too long for its
  // place is cut at semicolons if it has one, else at commas, else at spaces, and rejoined with
  // that character and one space. Empty lines make no chunk.
  let maxLen = firstLen;
  for (const raw of pySplitLines(value)) {
    const line = pyLstrip(raw);
    if (line.length >= maxLen) {
      const ch = [';', ','].find((c) => line.includes(c));
      if (ch) {
        const head = line.split(new RegExp(`\\${ch}[ \\t\\n\\r\\f\\v]*`))[0]!;
        return head.includes(' ') ? firstWord(head) : head + ch;
      }
    }
    if (line) return firstWord(line);
    maxLen = 78 - 1; // later lines: 78 less the continuation space
  }
  return '';
}

/** The Action word `checkDSN` reads from this delivery-status body (latin1 text). */
export function statusAction(body: string): StatusAction {
  for (const block of statusBlocks(body)) {
    for (const [name, value] of block.fields) {
      if (pyLower(name) === 'action') return { action: pyLower(writtenWord(name, value)) };
    }
    for (const line of block.body.split('\n')) {
      const lower = pyLower(line);
      if (!lower.startsWith('action:')) continue;
      const words = lower.split(' ');
      if (words.length < 2) return { action: null, raises: 'list index out of range' };
      return { action: words[1]! };
    }
  }
  return { action: null };
}
