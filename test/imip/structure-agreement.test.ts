/**
 * The check that decides whether a large message read by its IMAP structure must be read whole:
 * each part's header block, as the IMAP server sent it, read with the raw parser's (Python's)
 * rules and held against the structure. The structures are the ones the raw parser builds for
 * the same message when its header blocks are well-formed, which is what an IMAP server describes.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/imip/mime.js';
import type { MimePart } from '../../src/imip/mime-part.js';
import { headerSections, structureDisagreement } from '../../src/imip/structure-agreement.js';

const HEAD = 'From: attendee@remote.test\r\nTo: calendar+tok@example.test\r\nMIME-Version: 1.0\r\n';
const CAL = 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n';

/** A reply with a text part, a calendar and an encapsulated message; `top` and `cal` replace the header blocks' Content-* lines. */
function message(top = 'Content-Type: multipart/mixed; boundary="b"', cal = 'Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: base64'): string {
  return (
    `${HEAD}${top}\r\n\r\n` +
    `--b\r\nContent-Type: text/plain\r\n\r\nAccepted\r\n` +
    `--b\r\n${cal}\r\n\r\n${Buffer.from(CAL).toString('base64')}\r\n` +
    `--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: original\r\nContent-Type: text/plain\r\n\r\nhello\r\n` +
    `--b--\r\n`
  );
}

/** The header blocks an IMAP server returns for the sections, cut from the message by hand. */
const BLOCKS = (top: string, cal: string): Map<string, Buffer> =>
  new Map(
    Object.entries({
      HEADER: `${HEAD}${top}\r\n\r\n`,
      '1.MIME': 'Content-Type: text/plain\r\n\r\n',
      '2.MIME': `${cal}\r\n\r\n`,
      '3.MIME': 'Content-Type: message/rfc822\r\n\r\n',
      '3.HEADER': 'Subject: original\r\nContent-Type: text/plain\r\n\r\n',
    }).map(([k, v]) => [k, Buffer.from(v, 'latin1')]),
  );

const structure = (): MimePart => parseMessage(Buffer.from(message(), 'latin1')).root;

describe('header sections of a structure', () => {
  it('HEADER for the message, p.MIME for each body part, p.HEADER for an encapsulated message, in message order', () => {
    expect(headerSections(structure()).map((s) => s.section)).toEqual(['HEADER', '1.MIME', '2.MIME', '3.MIME', '3.HEADER']);
  });
});

describe('whether Python reads the header blocks as the structure says', () => {
  const top = 'Content-Type: multipart/mixed; boundary="b"';
  const cal = 'Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: base64';

  it('agrees on a well-formed message', () => {
    expect(structureDisagreement(headerSections(structure()), BLOCKS(top, cal))).toBeNull();
  });

  it.each([
    ['a line that is not a header in the message header', 'Not a header\r\n' + top, cal, /header block of the message has a line that is not a header/],
    // Python splits lines at a bare CR too: "to follow" is a line of its own, and not a header.
    ['a bare CR inside a header line', 'X-Note: more\rto follow\r\n' + top, cal, /line that is not a header/],
    ['spaces around the slash of the type', 'Content-Type: multipart / mixed; boundary="b"', cal, /type of the message as multipart \/ mixed/],
    ['the first of two boundary parameters', 'Content-Type: multipart/mixed; boundary="x"; boundary="b"', cal, /boundary of the message/],
    ['a transfer encoding with white space after it', top, 'Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: base64 ', /transfer encoding of part 2 as "base64 "/],
    ['a line that is not a header in a part', top, 'Content-Type: text/calendar\r\nbroken line\r\nContent-Transfer-Encoding: base64', /part 2 has a line that is not a header/],
  ])('disagrees on %s', (_what, badTop, badCal, why) => {
    expect(structureDisagreement(headerSections(structure()), BLOCKS(badTop, badCal))).toMatch(why);
  });

  it('disagrees when the server sent no header block for a part (the message is then read whole)', () => {
    const blocks = BLOCKS(top, cal);
    blocks.delete('3.HEADER');
    expect(structureDisagreement(headerSections(structure()), blocks)).toMatch(/no header block for the message in part 3/);
  });
});
