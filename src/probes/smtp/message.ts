/** The short test message of `test-smtp --send-to`, dot-stuffing, and queue ids in final replies. */
import { randomBytes } from 'node:crypto';

export function queueIdOf(text: string): string | undefined {
  const patterns = [
    /queued as\s+([A-Za-z0-9._-]+)/i,
    /\bid=([A-Za-z0-9._-]+)/i,
    /^(?:2\.\d\.\d\s+)?<([^>\s]+)>/,
    /\bOK\s+\d+\s+(\S+)\s+-\s+gsmtp/i,
    /^(?:2\.\d\.\d\s+)?(?:Ok|OK)[:\s]+(?:queued\s+)?([A-Za-z0-9]{6,})\b/,
  ];
  for (const re of patterns) {
    const m = re.exec(text.trim());
    if (m) return m[1];
  }
  return undefined;
}

function rfc2822Date(d = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function testMessage(from: string, to: string, helo: string): { text: string; messageId: string } {
  const domain = from.includes('@') ? from.slice(from.lastIndexOf('@') + 1) : helo;
  const messageId = `<imip-test-smtp.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${domain || 'localhost'}>`;
  const lines = [
    `Date: ${rfc2822Date()}`,
    `Message-ID: ${messageId}`,
    `From: ${from}`,
    `To: ${to}`,
    'Subject: imip test-smtp: test message',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    'Auto-Submitted: auto-generated',
    '',
    'This is a test message sent by "imip test-smtp" with the SMTP settings of',
    `Calendar Server's iMIP mail gateway (Scheduling.iMIP.Sending), from ${helo}.`,
    'It needs no answer.',
  ];
  // Dot-stuffing (RFC 5321 4.5.2), CRLF line ends, and the end-of-data line.
  const text = lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n') + '\r\n.\r\n';
  return { text, messageId };
}

/** A message as DATA carries it: CRLF line ends, dot-stuffed (RFC 5321 4.5.2), ended by `.`. */
export function dataOf(raw: string): string {
  const crlf = raw.replace(/\r?\n/g, '\r\n');
  const body = crlf.endsWith('\r\n') ? crlf : `${crlf}\r\n`;
  return body.replace(/(^|\r\n)\./g, '$1..') + '.\r\n';
}
