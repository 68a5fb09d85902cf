/**
 * Shared helpers for the inbound-message tests: the fixtures in test/fixtures/messages (written
 * for this project: Sending.Address calendar@example.test, organizer mailto:organizer@example.test,
 * attendee mailto:attendee@remote.test), their token store, contexts per release and a lazy
 * generator for a 50 MB message (never written to disk).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsBody, type ClassifyContext, type TokenRecord } from '../../src/imip/classify.js';
import { MimeStreamParser, parseMessage, walkParts, type ParsedMessage, type WantBody } from '../../src/imip/mime.js';
import { parseServerVersion } from '../../src/server/release.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/messages/', import.meta.url));
export const SENDING_ADDRESS = 'calendar@example.test';

/** The body of every text/calendar part of every fixture, as UTF-8 text, fixtures in name order. */
export function fixtureCalendars(): string[] {
  const calendars: string[] = [];
  for (const f of readdirSync(FIXTURE_DIR).filter((n) => n.endsWith('.eml')).sort()) {
    const parsed = parseMessage(readFileSync(join(FIXTURE_DIR, f)));
    for (const part of walkParts(parsed.root)) {
      const body = part.type === 'text/calendar' ? parsed.bodies.get(part.part) : undefined;
      if (body?.length) calendars.push(body.toString('utf8'));
    }
  }
  return calendars;
}
/** All fixture dates are Monday 2 March 2026, 09:00–11:00 UTC. */
export const NOW = new Date('2026-03-02T12:00:00Z');
export const RELEASES = ['2.5', '4.3', '5.0', '5.1', '7.0', '9.2'] as const;
export type Release = (typeof RELEASES)[number];

export function fixture(name: string): Buffer {
  return readFileSync(`${FIXTURE_DIR}${name}.eml`);
}

export const TOKENS: Record<string, Omit<TokenRecord, 'token'>> = JSON.parse(
  readFileSync(`${FIXTURE_DIR}tokens.json`, 'utf8'),
);

/** Exact-match lookup over tokens.json, as the server's store does. */
export function lookupToken(token: string): TokenRecord | null {
  const row = TOKENS[token];
  return row ? { token, ...row } : null;
}

export function context(release: string, protocol: 'imap' | 'pop3', extra: Partial<ClassifyContext> = {}): ClassifyContext {
  return {
    version: parseServerVersion(release),
    protocol,
    sendingAddress: SENDING_ADDRESS,
    deleteAllMail: false,
    lookupToken,
    now: NOW,
    ...extra,
  };
}

/** Stream bytes through the parser in chunks of `size`. */
export function parseChunked(buf: Buffer, size = 64 * 1024, want: WantBody = needsBody): ParsedMessage {
  const p = new MimeStreamParser(want);
  for (let i = 0; i < buf.length; i += size) p.write(buf.subarray(i, i + size));
  return p.end();
}

export function parseFixture(name: string, want: WantBody = needsBody): ParsedMessage {
  return parseChunked(fixture(name), 64 * 1024, want);
}

/** Cut a lazy sequence of buffers into chunks of exactly `size` bytes, reusing one buffer. */
export function* rechunk(pieces: Iterable<Buffer>, size: number): Generator<Buffer> {
  const out = Buffer.alloc(size);
  let n = 0;
  for (const piece of pieces) {
    let pos = 0;
    while (pos < piece.length) {
      const take = Math.min(size - n, piece.length - pos);
      piece.copy(out, n, pos, pos + take);
      n += take;
      pos += take;
      if (n === size) {
        yield out;
        n = 0;
      }
    }
  }
  if (n) yield out.subarray(0, n);
}

/**
 * A reply of about `attachmentBytes` (50 MB by default): a text part, a base64 attachment of that
 * size, then the reply calendar last, so the parser has to stream past the attachment first.
 */
export function* bigMessage(token: string, attachmentBytes = 50 * 1024 * 1024): Generator<Buffer> {
  const b = '=_big_boundary_0001';
  const cal = [
    'BEGIN:VCALENDAR',
    'PRODID:-//Example Corp//Big Mailer//EN',
    'VERSION:2.0',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `ORGANIZER:mailto:calendar+${token}@example.test`,
    'ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test',
    `UID:${TOKENS[token]!.uid}`,
    'DTSTAMP:20260302T100000Z',
    'DTSTART:20260305T100000Z',
    'DTEND:20260305T110000Z',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
  yield Buffer.from(
    [
      'Message-ID: <big-0001@remote.test>',
      'Date: Mon, 2 Mar 2026 10:00:00 +0000',
      'From: Attendee Person <attendee@remote.test>',
      `To: calendar+${token}@example.test`,
      'Subject: Accepted, with the slides',
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Slides attached.',
      `--${b}`,
      'Content-Type: application/octet-stream; name="slides.bin"',
      'Content-Disposition: attachment; filename="slides.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      '',
    ].join('\r\n'),
  );
  const line = Buffer.from(`${'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI0'.slice(0, 76)}\r\n`);
  const block = Buffer.concat(Array.from({ length: 840 }, () => line));
  for (let written = 0; written < attachmentBytes; written += block.length) yield block;
  yield Buffer.from(
    [
      `--${b}`,
      'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(cal).toString('base64').replace(/.{76}/g, '$&\r\n'),
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}
