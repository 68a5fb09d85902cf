/**
 * What the attendee's client sees (pure): the invitation as received in the attendee mailbox,
 * compared with the one sent. The calendar part must be there and unchanged, its ORGANIZER and the
 * Reply-To header must still carry the plus address with the token, and From, Subject and
 * Message-ID must not have been rewritten. Each kind of mangling is its own finding.
 */
import { decodeWords, parseMessage, walkParts, type ParsedMessage } from '../imip/mime.js';
import { propertyValues } from '../imip/reply-calendar.js';
import type { Finding } from '../report/finding.js';
import { splitAddressList } from '../server/address.js';
import { ROUNDTRIP_FINDINGS as F } from './findings.js';

export interface ReceivedInvitation {
  calendar: 'intact' | 'altered' | 'missing';
  organizerToken: boolean;
  replyToToken: boolean;
  rewrittenHeaders: string[];
  findings: Finding[];
}

interface CalendarPart {
  text: string;
  method: string | null;
}

function calendarPart(msg: ParsedMessage): CalendarPart | null {
  for (const p of walkParts(msg.root)) {
    if (p.type !== 'text/calendar') continue;
    const body = msg.bodies.get(p.part);
    if (!body) continue;
    return { text: body.toString('utf8'), method: p.params['method'] ?? null };
  }
  return null;
}

/** Content lines, unfolded, without the line ends. */
function contentLines(text: string): string[] {
  return text
    .replace(/\r\n|\r/g, '\n')
    .replace(/\n[ \t]/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '');
}

const one = (v: string | undefined): string => decodeWords(v ?? '').replace(/\s+/g, ' ').trim();

function finding(def: { id: string; severity: Finding['severity'] }, path: string, message: string, evidence: Record<string, unknown>, fix: string): Finding {
  return { id: def.id, severity: def.severity, path, message, evidence, fix };
}

export function checkReceivedInvitation(sentRaw: string | Buffer, receivedRaw: Buffer, plusAddress: string): ReceivedInvitation {
  const sent = parseMessage(typeof sentRaw === 'string' ? Buffer.from(sentRaw, 'utf8') : sentRaw);
  const got = parseMessage(receivedRaw);
  const findings: Finding[] = [];
  const plus = plusAddress.toLowerCase();

  const sentCal = calendarPart(sent);
  const gotCal = calendarPart(got);
  let calendar: ReceivedInvitation['calendar'] = 'intact';
  let organizerToken = false;
  if (!gotCal) {
    calendar = 'missing';
    const types = [...walkParts(got.root)].map((p) => p.type);
    findings.push(
      finding(
        F.calendarMissing,
        'invitation',
        'The invitation reached the attendee without a text/calendar part: the attendee\'s client shows no Accept/Decline, so no reply can come back.',
        { parts: types },
        'Find what strips calendar parts on the way: the outgoing relay\'s content filter, the provider\'s attachment policy, or a gateway converting the message.',
      ),
    );
  } else {
    const a = contentLines(sentCal?.text ?? '');
    const b = contentLines(gotCal.text);
    const removed = a.filter((l) => !b.includes(l));
    const added = b.filter((l) => !a.includes(l));
    const methodLost = (sentCal?.method ?? null) !== null && (gotCal.method ?? '').toLowerCase() !== (sentCal?.method ?? '').toLowerCase();
    if (removed.length || added.length || methodLost) {
      calendar = 'altered';
      findings.push(
        finding(
          F.calendarAltered,
          'invitation',
          `The calendar the attendee received differs from the one sent${methodLost ? ` (the Content-Type method parameter is ${gotCal.method ? `"${gotCal.method}"` : 'gone'}, sent "${sentCal?.method}")` : ''}: ${removed.length} line${removed.length === 1 ? '' : 's'} changed or removed, ${added.length} added.`,
          { removed: removed.slice(0, 5), added: added.slice(0, 5), methodSent: sentCal?.method ?? null, methodReceived: gotCal.method },
          'Find the relay or provider that rewrites calendar parts (content filters, disclaimers, format conversion) and exempt text/calendar from it.',
        ),
      );
    }
    const organizers = propertyValues(gotCal.text, 'ORGANIZER');
    organizerToken = organizers.some((o) => o.toLowerCase().includes(plus));
    if (!organizerToken) {
      findings.push(
        finding(
          F.organizerTokenLost,
          'invitation.ORGANIZER',
          `The ORGANIZER of the calendar the attendee received is ${organizers.join(', ') || '(none)'}, not mailto:${plusAddress}: calendar clients answer to the ORGANIZER, so their replies lose the token.`,
          { organizer: organizers, expected: `mailto:${plusAddress}` },
          'Find the relay or provider that rewrites addresses inside calendar parts, and turn it off for mail to outside attendees.',
        ),
      );
    }
  }

  const replyTo = got.headers.getAll('Reply-To').flatMap((v) => splitAddressList(v).map((x) => x.address.toLowerCase()));
  const replyToToken = replyTo.includes(plus);
  if (!replyToToken) {
    findings.push(
      finding(
        F.replyToTokenLost,
        'invitation.Reply-To',
        `The invitation's Reply-To as received is ${replyTo.join(', ') || '(none)'}, not ${plusAddress}: a mail client's Reply goes where the server finds no token.`,
        { replyTo, expected: plusAddress },
        'Find the relay or provider that rewrites or drops Reply-To (list-style rewriting, anti-spoofing "From rewriting"), and exempt the calendar mailbox.',
      ),
    );
  }

  const rewritten: string[] = [];
  const evidence: Record<string, unknown> = {};
  for (const name of ['From', 'Subject', 'Message-ID']) {
    const before = one(sent.headers.get(name));
    const after = one(got.headers.get(name));
    if (before.toLowerCase() !== after.toLowerCase()) {
      rewritten.push(name);
      evidence[name] = { sent: before, received: after };
    }
  }
  if (rewritten.length) {
    findings.push(
      finding(
        F.headersRewritten,
        'invitation',
        `On the way to the attendee ${rewritten.join(', ')} ${rewritten.length === 1 ? 'was' : 'were'} rewritten: ${rewritten.map((n) => `${n} "${(evidence[n] as { received: string }).received}"`).join(', ')}.`,
        evidence,
        'Harmless for the token as long as Reply-To and ORGANIZER are intact; a rewritten Message-ID breaks threading of the reply, a tagged Subject is cosmetic.',
      ),
    );
  }
  return { calendar, organizerToken, replyToToken, rewrittenHeaders: rewritten, findings };
}
