/**
 * How real calendar clients shape a REPLY to an iMIP invitation, as templates for
 * `send-test --reply-from` (filled by reply-template.ts). Each is the layout the client is known to
 * send (from published sample messages and the clients' sources):
 *
 *  - apple        Apple Calendar/Mail on macOS (the layout of Calendar Server's own test reply):
 *                 multipart/alternative [text/plain, multipart/mixed [text/html, text/calendar as an
 *                 attachment WITHOUT a method parameter, quoted-printable]]; X-Mail-Calendar-Part.
 *  - outlook      Outlook with Exchange Online: multipart/alternative [text/plain, text/html,
 *                 text/calendar base64]; no ORGANIZER in the REPLY, MAILTO: upper case, TZID=UTC
 *                 with a VTIMEZONE, X-MICROSOFT-CDO-*; To: "addr" <addr>.
 *  - gmail        Google Calendar: multipart/mixed [alternative [text/plain base64, text/html QP,
 *                 text/calendar 7bit], application/ics base64]; Sender calendar-notification,
 *                 Auto-Submitted, VALARM and X-NUM-GUESTS in the REPLY.
 *  - thunderbird  Thunderbird/Lightning: multipart/mixed [alternative [text/plain 8bit,
 *                 text/calendar method=REPLY 8bit], application/ics invite.ics 8bit]; To: the ORGANIZER.
 *
 * Every one answers to the tokenized ORGANIZER address, as the client does.
 */
import { fillTemplate, type ReplyVars } from './reply-template.js';

export const CLIENT_SHAPES = ['apple', 'outlook', 'gmail', 'thunderbird'] as const;
export type ClientShape = (typeof CLIENT_SHAPES)[number];

const TEMPLATES: Record<ClientShape, string> = {
  apple: `Return-Path: <{{ATTENDEE}}>
Date: {{DATE}}
From: Alice Example <{{ATTENDEE}}>
Subject: Event accepted: {{SUMMARY}}
To: Calendar <{{ORGANIZER}}>
Message-Id: <{{MESSAGE_ID}}>
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
X-Mailer: Apple Mail (2.3774.600.62)
Content-Type: multipart/alternative; boundary="Apple-Mail-4F1C2B7E-9A3D-4C55-8E61-2D0B7A9C3E11"
X-Mail-Calendar-Part: Yes


--Apple-Mail-4F1C2B7E-9A3D-4C55-8E61-2D0B7A9C3E11
Content-Type: text/plain;
	charset=us-ascii;
	format=flowed;
	delsp=yes
Content-Transfer-Encoding: 7bit

Alice Example has accepted your event invitation to the event: {{SUMMARY}}, scheduled for {{WHEN}}.
--Apple-Mail-4F1C2B7E-9A3D-4C55-8E61-2D0B7A9C3E11
Content-Type: multipart/mixed;
	boundary="Apple-Mail-7D2E9B14-3C6A-4F08-B5D1-6A8E0C2F4B93"


--Apple-Mail-7D2E9B14-3C6A-4F08-B5D1-6A8E0C2F4B93
Content-Type: text/html;
	charset=us-ascii
Content-Transfer-Encoding: 7bit

<html><body><div>Alice Example has accepted your event invitation to the event: {{SUMMARY}}, scheduled for {{WHEN}}.</div></body></html>
--Apple-Mail-7D2E9B14-3C6A-4F08-B5D1-6A8E0C2F4B93
Content-Disposition: attachment;
	filename=iCal-{{DTSTAMP}}.ics
Content-Type: text/calendar;
	x-unix-mode=0644;
	name="iCal-{{DTSTAMP}}.ics"
Content-Transfer-Encoding: quoted-printable

{{#qp}}{{#ics}}BEGIN:VCALENDAR
PRODID:-//Apple Inc.//macOS 14.6//EN
CALSCALE:GREGORIAN
VERSION:2.0
METHOD:REPLY
BEGIN:VEVENT
SEQUENCE:0
DTSTART:{{DTSTART}}
UID:{{UID}}
ORGANIZER;CN="Calendar":mailto:{{ORGANIZER}}
DTSTAMP:{{DTSTAMP}}
SUMMARY:{{SUMMARY}}
ATTENDEE;CN="Alice Example";CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:{{ATTENDEE}}
CREATED:{{DTSTAMP}}
DTEND:{{DTEND}}
END:VEVENT
END:VCALENDAR
{{/ics}}{{/qp}}
--Apple-Mail-7D2E9B14-3C6A-4F08-B5D1-6A8E0C2F4B93--

--Apple-Mail-4F1C2B7E-9A3D-4C55-8E61-2D0B7A9C3E11--
`,
  thunderbird: `Message-ID: <{{MESSAGE_ID}}>
Date: {{DATE}}
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
From: Alice Example <{{ATTENDEE}}>
To: {{ORGANIZER}}
Subject: Accepted: {{SUMMARY}}
Content-Type: multipart/mixed;
 boundary="------------tB7x0Qm4Zp2Lr6Ny9Kc3WsHd"

This is a multi-part message in MIME format.
--------------tB7x0Qm4Zp2Lr6Ny9Kc3WsHd
Content-Type: multipart/alternative;
 boundary="------------aL5Rk2Hd7Pq9Fm1Jx4VbE8cT"

--------------aL5Rk2Hd7Pq9Fm1Jx4VbE8cT
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Alice Example has accepted your event invitation.

--------------aL5Rk2Hd7Pq9Fm1Jx4VbE8cT
Content-Type: text/calendar; method=REPLY; charset=UTF-8
Content-Transfer-Encoding: 8bit

{{#ics}}BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
METHOD:REPLY
BEGIN:VEVENT
CREATED:{{DTSTAMP}}
LAST-MODIFIED:{{DTSTAMP}}
DTSTAMP:{{DTSTAMP}}
UID:{{UID}}
SUMMARY:{{SUMMARY}}
ORGANIZER;EMAIL={{ORGANIZER_BARE}}:mailto:{{ORGANIZER}}
ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:{{ATTENDEE}}
DTSTART:{{DTSTART}}
DTEND:{{DTEND}}
SEQUENCE:0
X-MOZ-RECEIVED-SEQUENCE:0
X-MOZ-RECEIVED-DTSTAMP:{{DTSTAMP}}
END:VEVENT
END:VCALENDAR
{{/ics}}
--------------aL5Rk2Hd7Pq9Fm1Jx4VbE8cT--

--------------tB7x0Qm4Zp2Lr6Ny9Kc3WsHd
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: 8bit

{{#ics}}BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
METHOD:REPLY
BEGIN:VEVENT
CREATED:{{DTSTAMP}}
LAST-MODIFIED:{{DTSTAMP}}
DTSTAMP:{{DTSTAMP}}
UID:{{UID}}
SUMMARY:{{SUMMARY}}
ORGANIZER;EMAIL={{ORGANIZER_BARE}}:mailto:{{ORGANIZER}}
ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:{{ATTENDEE}}
DTSTART:{{DTSTART}}
DTEND:{{DTEND}}
SEQUENCE:0
X-MOZ-RECEIVED-SEQUENCE:0
X-MOZ-RECEIVED-DTSTAMP:{{DTSTAMP}}
END:VEVENT
END:VCALENDAR
{{/ics}}
--------------tB7x0Qm4Zp2Lr6Ny9Kc3WsHd--
`,
  outlook: `Received: from AM8PR07MB7602.eurprd07.prod.outlook.com ([fe80::5c1e:9f2b:1d3a:7e44]) by
 AM8PR07MB7602.eurprd07.prod.outlook.com ([fe80::5c1e:9f2b:1d3a:7e44%6]) with mapi id
 15.20.8722.018; {{DATE}}
From: "Example, Alice" <{{ATTENDEE}}>
To: "{{ORGANIZER}}" <{{ORGANIZER}}>
Subject: Accepted: {{SUMMARY}}
Thread-Topic: {{SUMMARY}}
Thread-Index: AdtQx3kZ1yV0p8mGQf2c4hN7rLw5Eg==
Date: {{DATE}}
Message-ID: <{{MESSAGE_ID}}>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
	boundary="_000_AM8PR07MB76029E2F1A3B4C5D6E7FAM8PR07MB7602eurp_"
MIME-Version: 1.0

--_000_AM8PR07MB76029E2F1A3B4C5D6E7FAM8PR07MB7602eurp_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable


--_000_AM8PR07MB76029E2F1A3B4C5D6E7FAM8PR07MB7602eurp_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html>
<head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii">
</head>
<body>
</body>
</html>

--_000_AM8PR07MB76029E2F1A3B4C5D6E7FAM8PR07MB7602eurp_
Content-Type: text/calendar; charset="utf-8"; method=REPLY
Content-Transfer-Encoding: base64

{{#base64}}{{#ics}}BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:UTC
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0000
TZOFFSETTO:+0000
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T000000
TZOFFSETFROM:+0000
TZOFFSETTO:+0000
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ATTENDEE;PARTSTAT=ACCEPTED;CN="Example, Alice":MAILTO:{{ATTENDEE}}
COMMENT;LANGUAGE=en-US:\\n
SUMMARY;LANGUAGE=en-US:Accepted: {{SUMMARY}}
DTSTART;TZID=UTC:{{DTSTART_LOCAL}}
DTEND;TZID=UTC:{{DTEND_LOCAL}}
UID:{{UID}}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:{{DTSTAMP}}
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:0
LOCATION;LANGUAGE=en-US:
X-MICROSOFT-CDO-APPT-SEQUENCE:0
X-MICROSOFT-CDO-OWNERAPPTID:-1
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INSTTYPE:0
X-MICROSOFT-DONOTFORWARDMEETING:FALSE
X-MICROSOFT-DISALLOW-COUNTER:FALSE
X-MICROSOFT-REQUESTEDATTENDANCEMODE:DEFAULT
X-MICROSOFT-ISRESPONSEREQUESTED:FALSE
END:VEVENT
END:VCALENDAR
{{/ics}}{{/base64}}
--_000_AM8PR07MB76029E2F1A3B4C5D6E7FAM8PR07MB7602eurp_--
`,
  gmail: `Return-Path: <3kP9xZhcKC-4sy8u-gxgduryf.uzu@calendar-server.bounces.google.com>
Received: by mail-sor-f69.google.com with SMTP id 6a1803df08f44-6e8f7d2a1b3so412337d6;
        {{DATE}}
MIME-Version: 1.0
Sender: Google Calendar <calendar-notification@google.com>
Auto-Submitted: auto-generated
Message-ID: <calendar-{{MESSAGE_ID}}>
Date: {{DATE}}
Subject: Accepted: {{SUMMARY}} @ {{WHEN}} ({{ORGANIZER_BARE}})
From: Alice Example <{{ATTENDEE}}>
To: {{ORGANIZER}}
Content-Type: multipart/mixed; boundary="000000000000f3c1a20630b7e9d4"

--000000000000f3c1a20630b7e9d4
Content-Type: multipart/alternative; boundary="000000000000f3c19e0630b7e9d2"

--000000000000f3c19e0630b7e9d2
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes
Content-Transfer-Encoding: base64

{{#base64}}Alice Example has accepted this invitation.

{{SUMMARY}}
{{WHEN}}

Invitation from Google Calendar: https://calendar.google.com/calendar/
{{/base64}}
--000000000000f3c19e0630b7e9d2
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<span itemscope itemtype=3D"http://schema.org/InformAction"><span>Alice Examp=
le has <b>accepted</b> this invitation.</span></span>
--000000000000f3c19e0630b7e9d2
Content-Type: text/calendar; charset="UTF-8"; method=REPLY
Content-Transfer-Encoding: 7bit

{{#ics}}BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REPLY
BEGIN:VEVENT
DTSTART:{{DTSTART}}
DTEND:{{DTEND}}
DTSTAMP:{{DTSTAMP}}
ORGANIZER;CN={{ORGANIZER_BARE}}:mailto:{{ORGANIZER}}
UID:{{UID}}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Alice Example;X-NUM-GUESTS=0:mailto:{{ATTENDEE}}
CREATED:{{DTSTAMP}}
LAST-MODIFIED:{{DTSTAMP}}
LOCATION:
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:{{SUMMARY}}
TRANSP:OPAQUE
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:This is an event reminder
TRIGGER:-P0DT0H30M0S
END:VALARM
END:VEVENT
END:VCALENDAR
{{/ics}}
--000000000000f3c19e0630b7e9d2--

--000000000000f3c1a20630b7e9d4
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{{#base64}}{{#ics}}BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REPLY
BEGIN:VEVENT
DTSTART:{{DTSTART}}
DTEND:{{DTEND}}
DTSTAMP:{{DTSTAMP}}
ORGANIZER;CN={{ORGANIZER_BARE}}:mailto:{{ORGANIZER}}
UID:{{UID}}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Alice Example;X-NUM-GUESTS=0:mailto:{{ATTENDEE}}
CREATED:{{DTSTAMP}}
LAST-MODIFIED:{{DTSTAMP}}
LOCATION:
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:{{SUMMARY}}
TRANSP:OPAQUE
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:This is an event reminder
TRIGGER:-P0DT0H30M0S
END:VALARM
END:VEVENT
END:VCALENDAR
{{/ics}}{{/base64}}
--000000000000f3c1a20630b7e9d4--
`,
};

function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/** The reply this client would send, as raw message text with CRLF line ends. */
export function clientReply(shape: ClientShape, vars: ReplyVars): string {
  return crlf(fillTemplate(TEMPLATES[shape], vars));
}
