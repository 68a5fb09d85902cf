/**
 * Finding ids of the round trip (`send-test --reply-from`), one per thing that can break on the
 * way, with severity and summary: the catalog and the man page are built from this table.
 */
import type { Severity } from '../report/finding.js';

export const ROUNDTRIP_FINDINGS = {
  attendeeMailboxFailed: { id: 'roundtrip.attendee-mailbox-failed', severity: 'error', summary: 'The test attendee mailbox (--reply-from) could not be opened or read; nothing was sent, or the run stopped there.' },
  notDelivered: { id: 'roundtrip.invitation-not-delivered', severity: 'error', summary: 'The invitation did not reach the test attendee mailbox in time (outbound relay or the provider\'s inbound filtering, spam folder).' },
  calendarMissing: { id: 'roundtrip.calendar-missing', severity: 'error', summary: 'The invitation reached the attendee without its text/calendar part: a relay or the provider stripped it.' },
  calendarAltered: { id: 'roundtrip.calendar-altered', severity: 'warning', summary: 'The calendar the attendee received differs from the one sent (lines changed, added or removed, or the method parameter lost).' },
  organizerTokenLost: { id: 'roundtrip.organizer-token-lost', severity: 'error', summary: 'The ORGANIZER of the received calendar no longer carries the plus address with the token: a client replying to it loses the token.' },
  replyToTokenLost: { id: 'roundtrip.reply-to-token-lost', severity: 'error', summary: 'The Reply-To of the received invitation no longer carries the plus address with the token: a mail client\'s Reply loses the token.' },
  headersRewritten: { id: 'roundtrip.headers-rewritten', severity: 'warning', summary: 'From, Subject or Message-ID of the invitation were rewritten on the way to the attendee.' },
  plusRejected: { id: 'roundtrip.plus-address-rejected', severity: 'error', summary: 'The reply to the plus address was refused (recipient rejected): the receiving mail system does not accept "+detail" addresses.' },
  detailStripped: { id: 'roundtrip.plus-detail-stripped', severity: 'error', summary: 'The reply left addressed to the plus address and arrived in the gateway mailbox with the "+token" gone from To: a relay on the way strips "+detail".' },
  replyNotSent: { id: 'roundtrip.reply-not-sent', severity: 'error', summary: 'The attendee account\'s submission server (--reply-submit) did not take the reply (login, TLS, refused).' },
  cleanupIncomplete: { id: 'roundtrip.cleanup-incomplete', severity: 'warning', summary: 'What the run created could not all be removed (attendee invitation, or the reply in the gateway mailbox).' },
} as const satisfies Record<string, { id: string; severity: Severity; summary: string }>;
