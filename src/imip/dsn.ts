/**
 * The server's `checkDSN` (calendarserver-imip.md §4.4 step 1, §11): a message is a DSN iff some
 * part is `multipart/report` and some part is `message/delivery-status`; the action is the first
 * `action:` line of the delivery-status part, `lower.split(' ')[1]` after Python re-serialises it
 * as `Name: value` (so `Action:failed` works too); the calendar is the LAST `text/calendar` part
 * anywhere, usually inside the returned original.
 */
import { parseHeaderLines } from './mime-headers.js';
import { walkParts, type MimePart } from './mime-part.js';

export interface DsnCheck {
  isDsn: boolean;
  /** Lower-case action word (`failed`, `delayed`...), `''` for an empty value, null when none. */
  action: string | null;
  deliveryStatusPart: MimePart | null;
  /** The last text/calendar part anywhere in the message. */
  calendarPart: MimePart | null;
  /** The delivery-status body was needed and not supplied (IMAP path). */
  missingBody: boolean;
}

/** Python's `lower.split(' ')[1]` on the re-serialised line `Name: value`. */
function actionWord(name: string, value: string): string {
  const line = `${name}: ${value}`.toLowerCase();
  return line.split(' ')[1] ?? '';
}

/** First `Action` field over the status blocks (per-message block, then per-recipient blocks). */
export function dsnAction(body: string): string | null {
  const blocks = body.split(/\r?\n[ \t]*\r?\n/);
  for (const block of blocks) {
    const { headers } = parseHeaderLines(block.replace(/^\s*\r?\n/, ''), []);
    for (const [name, value] of headers.entries()) {
      if (name.toLowerCase() === 'action') return actionWord(name, value);
    }
  }
  return null;
}

/** `checkDSN` over a parsed structure and the bodies fetched for it. */
export function checkDsn(root: MimePart, bodies: ReadonlyMap<string, Buffer>): DsnCheck {
  let report = false;
  let status: MimePart | null = null;
  let calendar: MimePart | null = null;
  for (const p of walkParts(root)) {
    if (p.type === 'multipart/report') report = true;
    else if (p.type === 'message/delivery-status') status = p;
    else if (p.type === 'text/calendar') calendar = p;
  }
  if (!report || !status) {
    return { isDsn: false, action: null, deliveryStatusPart: null, calendarPart: null, missingBody: false };
  }
  const body = bodies.get(status.part);
  return {
    isDsn: true,
    action: body ? dsnAction(body.toString('latin1')) : null,
    deliveryStatusPart: status,
    calendarPart: calendar,
    missingBody: !body,
  };
}
