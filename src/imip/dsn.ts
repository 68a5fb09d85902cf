/**
 * The server's `checkDSN` (`MailHandler`/`MailReceiver`, every release): a message is a DSN iff
 * some part is `multipart/report` and some part is `message/delivery-status` (the last one); the
 * action is the word after the first `action:` line of that part as Python writes it back
 * (./dsn-action.ts); the calendar is the LAST `text/calendar` part anywhere, usually inside the
 * returned original.
 */
import { statusAction, type StatusAction } from './dsn-action.js';
import { walkParts, type MimePart } from './mime-part.js';

export interface DsnCheck {
  isDsn: boolean;
  /** Lower-case action word (`failed`, `delayed`...), `''` for an empty value, null when none. */
  action: string | null;
  /** The server's check raises while it reads the action: the exception's text. */
  actionRaises?: string;
  deliveryStatusPart: MimePart | null;
  /** The last text/calendar part anywhere in the message. */
  calendarPart: MimePart | null;
  /** The delivery-status body was needed and not supplied (IMAP path). */
  missingBody: boolean;
}

/** The parts `checkDSN` looks for; a delivery report has a report and a status part. */
function reportParts(root: MimePart): { report: boolean; status: MimePart | null; calendar: MimePart | null } {
  let report = false;
  let status: MimePart | null = null;
  let calendar: MimePart | null = null;
  for (const p of walkParts(root)) {
    if (p.type === 'multipart/report') report = true;
    else if (p.type === 'message/delivery-status') status = p;
    else if (p.type === 'text/calendar') calendar = p;
  }
  return { report, status, calendar };
}

/** Whether `checkDSN` takes the message for a delivery report, without reading its Action. */
export function isDeliveryReport(root: MimePart): boolean {
  const { report, status } = reportParts(root);
  return report && status !== null;
}

/** `checkDSN` over a parsed structure and the bodies fetched for it. */
export function checkDsn(root: MimePart, bodies: ReadonlyMap<string, Buffer>): DsnCheck {
  const { report, status, calendar } = reportParts(root);
  if (!report || !status) {
    return { isDsn: false, action: null, deliveryStatusPart: null, calendarPart: null, missingBody: false };
  }
  const body = bodies.get(status.part);
  const read: StatusAction = body ? statusAction(body.toString('latin1')) : { action: null };
  return {
    isDsn: true,
    action: read.action,
    ...(read.raises !== undefined ? { actionRaises: read.raises } : {}),
    deliveryStatusPart: status,
    calendarPart: calendar,
    missingBody: !body,
  };
}
