/**
 * Filling the reply templates of `client-replies.ts`: placeholders `{{NAME}}` for what differs
 * per invitation, and three blocks: `{{#ics}}…{{/ics}}` makes iCalendar text (CRLF, lines folded
 * at 75 octets as RFC 5545 wants), `{{#base64}}…{{/base64}}` base64-encodes its content (CRLF
 * first) in 76-character lines, `{{#qp}}…{{/qp}}` quoted-printable with CR LF encoded.
 */
import { randomBytes } from 'node:crypto';

export interface ReplyVars {
  /** The token of the invitation. */
  TOKEN: string;
  /** The event UID. */
  UID: string;
  /** Bare attendee address (the one who answers). */
  ATTENDEE: string;
  /** The tokenized ORGANIZER address (the plus address) the client answers to. */
  ORGANIZER: string;
  /** Sending.Address without display name and token. */
  ORGANIZER_BARE: string;
  SUMMARY: string;
  /** The invitation's Message-ID, with angle brackets. */
  IN_REPLY_TO: string;
  /** Left part and domain of this reply's Message-ID (no angle brackets). */
  MESSAGE_ID: string;
  /** RFC 5322 date. */
  DATE: string;
  /** UTC times, iCalendar basic format with Z. */
  DTSTART: string;
  DTEND: string;
  DTSTAMP: string;
  /** The same wall times without Z (for TZID=UTC). */
  DTSTART_LOCAL: string;
  DTEND_LOCAL: string;
  /** Human text such as `Wed 25 Nov 2026 10:00 - 10:30 (UTC)`. */
  WHEN: string;
}

function icalUtc(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Defaults derived from the few values every invitation has. */
export function replyVars(v: Pick<ReplyVars, 'TOKEN' | 'UID' | 'ATTENDEE' | 'ORGANIZER' | 'ORGANIZER_BARE' | 'SUMMARY' | 'IN_REPLY_TO'> & { start: Date; end: Date }): ReplyVars {
  const now = new Date();
  const dtstart = icalUtc(v.start);
  const dtend = icalUtc(v.end);
  const hm = (d: Date): string => d.toISOString().slice(11, 16);
  const day = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).format(v.start).replace(',', '');
  return {
    TOKEN: v.TOKEN,
    UID: v.UID,
    ATTENDEE: v.ATTENDEE,
    ORGANIZER: v.ORGANIZER,
    ORGANIZER_BARE: v.ORGANIZER_BARE,
    SUMMARY: v.SUMMARY,
    IN_REPLY_TO: v.IN_REPLY_TO,
    MESSAGE_ID: `${now.getTime().toString(36)}.${randomBytes(5).toString('hex')}@${v.ATTENDEE.slice(v.ATTENDEE.lastIndexOf('@') + 1) || 'localhost'}`,
    DATE: now.toUTCString().replace('GMT', '+0000'),
    DTSTART: dtstart,
    DTEND: dtend,
    DTSTAMP: icalUtc(new Date(Math.floor(now.getTime() / 1000) * 1000)),
    DTSTART_LOCAL: dtstart.replace(/Z$/, ''),
    DTEND_LOCAL: dtend.replace(/Z$/, ''),
    WHEN: `${day} ${hm(v.start)} - ${hm(v.end)} (UTC)`,
  };
}

function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/** RFC 5545 §3.1: at most 75 octets per line, continuation lines start with a space. */
function foldIcs(text: string): string {
  const lines = crlf(text).split('\r\n');
  return lines
    .map((line) => {
      const out: string[] = [];
      let cur = '';
      let octets = 0;
      let limit = 75;
      for (const ch of line) {
        const n = Buffer.byteLength(ch, 'utf8');
        if (octets + n > limit) {
          out.push(cur);
          cur = '';
          octets = 0;
          limit = 74;
        }
        cur += ch;
        octets += n;
      }
      out.push(cur);
      return out.join('\r\n ');
    })
    .join('\r\n');
}

function base64(text: string): string {
  const b = Buffer.from(crlf(text), 'utf8').toString('base64');
  return (b.match(/.{1,76}/g) ?? []).join('\n');
}

/**
 * Quoted-printable as Apple Mail writes a calendar attachment: CR and LF encoded (=0D=0A), so the
 * whole text is one logical line cut by soft breaks (`=` at the end) at 76 characters.
 */
function quotedPrintable(text: string): string {
  const bytes = Buffer.from(crlf(text), 'utf8');
  const lines: string[] = [];
  let cur = '';
  for (const b of bytes) {
    const lit = b >= 33 && b <= 126 && b !== 61;
    const tok = lit ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (cur.length + tok.length > 75) {
      lines.push(`${cur}=`);
      cur = '';
    }
    cur += tok;
  }
  lines.push(cur);
  return lines.join('\n');
}

const BLOCK = /\{\{#(ics|base64|qp)\}\}((?:(?!\{\{#)[\s\S])*?)\{\{\/\1\}\}/;

/** Fill a template string. */
export function fillTemplate(template: string, vars: ReplyVars): string {
  let out = template.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => {
    const v = (vars as unknown as Record<string, string>)[name];
    if (v === undefined) throw new Error(`reply template: no value for ${m}`);
    return v;
  });
  for (let m = BLOCK.exec(out); m; m = BLOCK.exec(out)) {
    const body = m[1] === 'ics' ? foldIcs(m[2]!) : m[1] === 'qp' ? quotedPrintable(m[2]!) : base64(m[2]!);
    out = out.slice(0, m.index) + body + out.slice(m.index + m[0].length);
  }
  return out;
}
