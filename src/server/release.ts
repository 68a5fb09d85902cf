/**
 * Calendar Server's behaviour as data, per release line and finer release.
 * Sources: the tagged releases of apple/ccs-calendarserver (release, file and function given per row).
 *
 * Three release lines ("eras"):
 *  - 2.x      separate mail gateway process, Digest auth as the `Username` directory user
 *  - 3.x-4.x  separate gateway, shared-secret header `x-calendarserver-internal`
 *  - 5.0+     no gateway process, work queue, in-process injection
 */
import { CannotRunError } from '../report/exit.js';

export type ReleaseLine = '2.x' | '3.x-4.x' | '5.0+';

export interface ServerVersion {
  major: number;
  minor: number;
  /** As the admin wrote it, or the representative release used when inferred. */
  text: string;
  line: ReleaseLine;
  /** How the version was chosen. */
  source: 'flag' | 'inferred' | 'default';
  /** One sentence: why this version. */
  reason: string;
}

export interface LineBehaviour {
  line: ReleaseLine;
  /** How `Includes` merge into the main file (`twistedcaldav/stdconfig.py` `PListConfigProvider.loadConfig`: 3.x–4.x `dict.update`, 5.0+ `mergeData`). */
  includeMerge: 'unsupported' | 'shallow' | 'deep';
  /** A missing include file (`PListConfigProvider.loadConfig`: 3.x–4.x ConfigurationError, 5.0+ skipped). */
  missingInclude: 'ignored-key' | 'error' | 'warning';
  /** `Receiving.Type` neither pop* nor imap* (2.x–4.x `mail.py` `MailGatewayServiceMaker.makeService`, 5.0+ `inbound.py` `MailRetriever.__init__`). */
  invalidReceivingType: 'gateway-disabled' | 'treated-as-imap';
  /** How the gateway authenticates reply injection (2.x–4.x `mail.py` `injectMessage`; 5.0+ `inbound.py` `injectMessage`, in-process). */
  injection: 'digest-user' | 'shared-secret-header' | 'in-process';
  /** Separate gateway process started only when MailGatewayServer is localhost (`calendarserver/tap/caldav.py`: 2.x `makeService_Combined`, 3.x–4.x `SlaveSpawnerService.startService`). */
  gatewayProcess: boolean;
  /** Default main config file (`DEFAULT_CONFIG_FILE`, `stdconfig.py`; 2.x `defaultConfigFile`, `config.py`). */
  defaultConfigFiles: { darwin: string; other: string };
}

export const LINES: Record<ReleaseLine, LineBehaviour> = {
  '2.x': {
    line: '2.x',
    includeMerge: 'unsupported',
    missingInclude: 'ignored-key',
    invalidReceivingType: 'gateway-disabled',
    injection: 'digest-user',
    gatewayProcess: true,
    defaultConfigFiles: { darwin: '/etc/caldavd/caldavd.plist', other: '/etc/caldavd/caldavd.plist' },
  },
  '3.x-4.x': {
    line: '3.x-4.x',
    includeMerge: 'shallow',
    missingInclude: 'error',
    invalidReceivingType: 'gateway-disabled',
    injection: 'shared-secret-header',
    gatewayProcess: true,
    // 3.x used /etc/caldavd on every platform; 4.x moved macOS to /Library/Server (see defaultConfigFile()).
    defaultConfigFiles: {
      darwin: '/Library/Server/Calendar and Contacts/Config/caldavd.plist',
      other: '/etc/caldavd/caldavd.plist',
    },
  },
  '5.0+': {
    line: '5.0+',
    includeMerge: 'deep',
    missingInclude: 'warning',
    invalidReceivingType: 'treated-as-imap',
    injection: 'in-process',
    gatewayProcess: false,
    defaultConfigFiles: {
      darwin: '/Applications/Server.app/Contents/ServerRoot/private/etc/caldavd/caldavd-apple.plist',
      other: '/etc/caldavd/caldavd.plist',
    },
  },
};

/** How each release line gets replies into the server, in the words of a message ("9.2 injects replies in-process"). */
export const INJECTION_TEXT: Record<LineBehaviour['injection'], string> = {
  'digest-user': 'injects replies over HTTP as a directory user',
  'shared-secret-header': 'authenticates the mail gateway with a shared secret',
  'in-process': 'injects replies in-process',
};

export function lineOf(major: number): ReleaseLine {
  if (major <= 2) return '2.x';
  if (major <= 4) return '3.x-4.x';
  return '5.0+';
}

export function atLeast(v: Pick<ServerVersion, 'major' | 'minor'>, major: number, minor = 0): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * Every release of Calendar Server with iMIP, as tagged in apple/ccs-calendarserver
 * (CalendarServer-2.2 … CalendarServer-9.2; no 2.0, 2.1 or 4.0 was tagged). A version between them
 * is judged by the rules of the releases around it, and the reason says no release has that number.
 */
const TAGGED_RELEASES: readonly string[] = [
  '2.2', '2.3', '2.4', '2.5', '3.0', '3.1', '3.2', '3.3',
  '4.1', '4.1.1', '4.2', '4.2.1', '4.2.2', '4.3', '4.3.1', '4.3.2',
  '5.0', '5.1', '5.2', '5.2.1', '5.2.2', '5.3', '6.0', '6.1', '6.2', '7.0', '7.1', '8.0', '8.1', '9.0', '9.1', '9.2',
];

/** `major.minor` of a release in {@link TAGGED_RELEASES}. */
function majorMinor(release: string): { major: number; minor: number } {
  const [major = 0, minor = 0] = release.split('.').map(Number);
  return { major, minor };
}

/** The first release with iMIP (twistedcaldav/mail.py first appears in CalendarServer-2.2) and the last one tagged. */
const FIRST_RELEASE = TAGGED_RELEASES[0]!;
const NEWEST_RELEASE = TAGGED_RELEASES[TAGGED_RELEASES.length - 1]!;
const FIRST = majorMinor(FIRST_RELEASE);
const NEWEST = majorMinor(NEWEST_RELEASE);

/** Parse `--server-version`: `2`, `2.5`, `4.3.2`, `9.2`. */
export function parseServerVersion(text: string): ServerVersion {
  const m = /^\s*(\d{1,2})(?:\.(\d{1,2}))?(?:\.(\d{1,3}))?\s*$/.exec(text);
  if (!m) {
    throw new CannotRunError(
      `--server-version: "${text}" is not a Calendar Server release; give one such as 2.5, 4.3 or ${NEWEST_RELEASE}`,
    );
  }
  const major = Number(m[1]);
  // A bare major is its line; a bare "2" is 2.x from the first release with iMIP, 2.2.
  const minor = m[2] === undefined ? (major === FIRST.major ? FIRST.minor : 0) : Number(m[2]);
  // iMIP arrived in 2.2 (no 2.0 or 2.1 was tagged): anything earlier has no iMIP to judge.
  if (!atLeast({ major, minor }, FIRST.major, FIRST.minor) || major > 11) {
    throw new CannotRunError(
      `--server-version: ${text} is outside the releases with iMIP (${FIRST_RELEASE} to ${NEWEST_RELEASE}); give one such as 2.5, 4.3 or ${NEWEST_RELEASE}`,
    );
  }
  const line = lineOf(major);
  // A later release than the last one published is taken at its word, and judged as the newest
  // behaves: every feature switch here is "from release X on".
  const later = atLeast({ major, minor }, NEWEST.major, NEWEST.minor + 1);
  // 4.3.0 is 4.3; a bare major (`4`) is its line, whichever releases it had.
  const patch = m[3] === undefined ? 0 : Number(m[3]);
  const given = m[2] === undefined ? null : `${major}.${minor}${patch ? `.${patch}` : ''}`;
  const untagged = !later && given !== null && !TAGGED_RELEASES.includes(given);
  const sameMajor = TAGGED_RELEASES.filter((r) => r.startsWith(`${major}.`));
  const reason =
    `given with --server-version ${text.trim()}` +
    (later ? `; no release after ${NEWEST_RELEASE} is published, so it is judged as ${NEWEST_RELEASE} behaves` : '') +
    (untagged ? `, not a release tagged in Calendar Server's sources (its ${major}.x releases: ${sameMajor.join(', ')}): check the number` : '');
  return { major, minor, text: text.trim(), line, source: 'flag', reason };
}

/** The version used when nothing says otherwise: the newest release line. */
export function defaultServerVersion(): ServerVersion {
  return {
    ...NEWEST,
    text: NEWEST_RELEASE,
    line: lineOf(NEWEST.major),
    source: 'default',
    reason: 'no --server-version given and the config does not show the release, so the newest release',
  };
}

/**
 * Finer features that changed inside a release line. One place to answer
 * "what does release X do?"; callers never compare version numbers themselves.
 */
export interface Features {
  /** `Includes` exist at all (3.0+ `stdconfig.py` `PListConfigProvider.loadConfig`). */
  includes: boolean;
  /** Includes inside includes are followed (6.0+ `stdconfig.py` `loadConfig`'s `_loadIncludes`). */
  recursiveIncludes: boolean;
  /** `ImportConfig` (6.0+ `stdconfig.py` `loadConfig`'s `_loadImport`). */
  importConfig: boolean;
  /**
   * `$` and `#` expanded in include paths (3.1+: CalendarServer-3.1 twistedcaldav/stdconfig.py
   * `_expandPath`, `loadConfig`; 3.0 reads `fullServerPath(configRoot, include)` as it is).
   */
  includePathExpansion: boolean;
  /**
   * Relative include paths resolved against the listing file's ServerRoot/ConfigRoot; 5.0–5.1
   * take them as written (CalendarServer-5.0/5.1 twistedcaldav/stdconfig.py
   * `PListConfigProvider.loadConfig`: "Includes are not relative to ConfigRoot", `_expandPath(include)`).
   * 5.2 went back to `fullServerPath(configRoot, include)`, the comment left in place.
   */
  includesRelativeToConfigRoot: boolean;
  /**
   * The file that lists Includes must define ServerRoot and ConfigRoot itself, or loading fails
   * with AttributeError (3.x–4.x and 5.2–5.3: the main file, `os.path.join(configDict.ServerRoot,
   * configDict.ConfigRoot)`; 6.0+: every file with Includes, `_loadIncludes(parentDict)`;
   * CalendarServer-3.2/4.3.2/5.2/6.0/9.2 twistedcaldav/stdconfig.py `PListConfigProvider.loadConfig`).
   */
  includeNeedsOwnRoots: boolean;
  /**
   * The address is lower-cased before AddressPatterns are matched (3.0+): CalendarServer-3.2
   * twistedcaldav/scheduling/delivery.py `matchCalendarUserAddress` (`cuaddr.lower()`); 2.x
   * (CalendarServer-2.5 twistedcaldav/scheduling/delivery.py) matches as written.
   */
  patternsLowercase: boolean;
  /** `Sending.SuppressionDays` is read (4.1+ `mail.py` `MailHandler.outbound`, 5.0+ `MailSender.outbound`). */
  suppressionDays: boolean;
  /** `MailIconsDirectory` is read (up to 4.1: `mail.py` `MailHandler.getIconPath`, gone in 4.2). */
  mailIcons: boolean;
  /**
   * 5.0's POP3 reader never logs in: `POP3DownloadFactory.__init__` does not keep its settings, and
   * `POP3DownloadProtocol.serverGreeting` reads `self.factory.settings["Username"]`, which raises
   * AttributeError at every greeting; Twisted logs it and drops the connection (CalendarServer-5.0
   * txdav/caldav/datastore/scheduling/imip/inbound.py; 5.1 adds `self.settings = settings`).
   */
  pop3NeverLogsIn: boolean;
  /**
   * 4.1, 4.1.1 and 5.0 never send an IMAP LOGIN in clear text. Twisted's `IMAP4Client.__cbLoginCaps`
   * calls `log.msg("Server has no TLS support. logging in over cleartext!")` just before it,
   * on a clear connection without STARTTLS, and these releases replace Twisted's `imap4.log` with
   * an `IMAPLogger` whose `emit` raises: 4.1/4.1.1 twistedcaldav/mail.py calls
   * `super(Logger, self).emit`, which `object` lacks (AttributeError); 5.0
   * txdav/caldav/datastore/scheduling/imip/inbound.py passes `self` twice to
   * `TwistedCompatibleLogger.emit` (TypeError). The login's Deferred fails instead, and
   * `ebLoginFailed` logs "IMAP login failed for <Username>". 4.2 and 5.1 mended the logger.
   */
  imapCleartextLoginRaises: boolean;
  /** IMAP reads only UNSEEN messages and deletes selectively (5.1+ `inbound.py` `IMAP4DownloadProtocol`). */
  imapUnseenOnly: boolean;
  /** Only handled messages are deleted (5.1+ `inbound.py` `cbGotMessage`, `cbDownloaded`); before, every fetched message is. */
  selectiveDelete: boolean;
  /** Unknown tokens: older than 72 h deleted, else \Seen removed (7.0+ `inbound.py` `MailReceiver.processReply`, `cbGotMessage`). */
  unknownTokenAge: boolean;
  /** A reply without calendar is forwarded to the organizer (3.0+ `mail.py` / `inbound.py` `processReply`). */
  forwardsHumanReplies: boolean;
  /**
   * The forward fails (5.0–6.0): `processReply` hands `SMTPSender.sendMessage` the parsed
   * `email.message.Message`, whose `message.replace("\r\n", "\n")` raises AttributeError
   * ("Message instance has no attribute 'replace'") before anything is sent
   * (CalendarServer-5.0..6.0 txdav/caldav/datastore/scheduling/imip/inbound.py `processReply`,
   * smtpsender.py `sendMessage`). 6.1 passes `msg.as_string()` (206b87d, "Fix for use with latest
   * Twisted"); 3.x–4.x's mail.py wrote the text itself.
   */
  forwardRaises: boolean;
  /**
   * `processReply` adds `PRODID:Unknown` to a reply without one before the scheduler validates it
   * (6.1–6.2 in `processReply` itself, a2da9a0 "don't fail on missing PRODID in reply"; 7.0+ in
   * `sanitizeCalendar`).
   */
  addsMissingProdid: boolean;
  /**
   * `IMIPReplyWork.doWork` catches what `injectMessage` re-raised and logs "Unable to process
   * reply" (6.1+, a2da9a0 "Don't endlessly retry imip reply processing"); 5.0–6.0 let it fail the
   * work item.
   */
  replyWorkCatches: boolean;
  /**
   * sanitizeCalendar (CalendarServer-7.0+ inbound.py), which takes the calendar's METHOD with
   * `getProperty("METHOD")` (raises InvalidICalendarDataError on two), adds a missing PRODID (as
   * 6.1–6.2 did, {@link addsMissingProdid}) and removes STATUS from a METHOD:REPLY.
   */
  sanitizeCalendar: boolean;
  /**
   * sanitizeCalendar upper-cases METHOD (8.0+: `methodProperty.value().upper()`, which raises
   * AttributeError for a value that is not text; CalendarServer-8.0 inbound.py `sanitizeCalendar`).
   */
  sanitizeUpperMethod: boolean;
  /**
   * `processReply` takes the reply's main component with `event = calendar.mainComponent()`, and
   * twistedcaldav's `mainComponent()` raises InvalidICalendarDataError ("Calendar contains more
   * than one primary component: <Component: …>") when the calendar has more than one component
   * besides VTIMEZONE and X-CALENDARSERVER-PERUSER: a reply with a changed occurrence of a
   * repeating event fails (3.0–5.0: CalendarServer-3.0..4.3.2 twistedcaldav/mail.py and 5.0
   * txdav/caldav/datastore/scheduling/imip/inbound.py `processReply`; CalendarServer-3.0..5.0
   * twistedcaldav/ical.py `Component.mainComponent(allow_multiple=False)`). From 5.1 it returns
   * the master, or else the first override (CalendarServer-5.1..9.2 ical.py); 2.x's `processReply`
   * does not call it (CalendarServer-2.2..2.5 mail.py).
   */
  singleMainComponent: boolean;
  /**
   * `processReply` adds a missing ORGANIZER to the VCALENDAR itself on 2.x
   * (`calendar.addProperty(Property("ORGANIZER", organizer))`, CalendarServer-2.2..2.5
   * twistedcaldav/mail.py), so a reply without a main component still goes to the inbox; from
   * 3.0 to the main component (`event.addProperty`), which fails when there is none.
   */
  organizerOnCalendar: boolean;
  /**
   * The scheduler's `checkCalendarData` validates the reply with pycalendar (`validCalendarData`,
   * 3.1+), which wants exactly one PRODID and at most one METHOD on the VCALENDAR
   * (CalendarServer-3.1..9.2 twistedcaldav/scheduling/scheduler.py and, from 5.0,
   * txdav/caldav/datastore/scheduling/scheduler.py `checkCalendarData`; pycalendar
   * `propertyCardinality_1`, from its first `validate`, apple/ccs-pycalendar 8334398). 2.x and 3.0
   * check only that the calendar is one (`validCalendarForCalDAV`).
   */
  schedulerValidatesCalendar: boolean;
  /**
   * twext's `Logger.emit` decodes every byte-string value it is given as UTF-8 before anything
   * else (ccs-twistedextensions 961d7a7, trunk@15283 "Always process Logger strings as utf-8
   * encoded"; 8.0 pins trunk@15423, 9.x later commits), so logging a header whose bytes are not
   * UTF-8 raises UnicodeDecodeError (8.0+).
   */
  loggerDecodesUtf8: boolean;
  /** Keychain consulted only when the plist password is empty (8.0+ `stdconfig.py` `_updateScheduling`). */
  keychainOnlyIfEmpty: boolean;
  /** Header order From, Subject, Reply-To, To, Date, Message-ID (3.2+ `generateEmail`). */
  subjectSecondHeader: boolean;
  /** From uses the ORGANIZER EMAIL parameter (3.1+ `mail.py` `MailHandler.outbound`). */
  fromUsesEmailParam: boolean;
  /** Message-ID domain is ServerHostName (7.0+ `smtpsender.py` `SMTPSender.betterMessageID`). */
  messageIdServerHostName: boolean;
  /** 2.x looked for the attachment before the token lookup (CalendarServer-2.5 `mail.py` `MailHandler.processReply`). */
  attachmentBeforeLookup: boolean;
  /**
   * The calendar parser behind `Component.fromString` (twistedcaldav/ical.py): vobject on 2.x,
   * PyCalendar's server branch on 3.x–5.x, pycalendar's `icalendar` package from 6.0.
   */
  calendarParser: 'vobject' | 'pycalendar-2013' | 'pycalendar-2016';
  /**
   * twistedcaldav/__init__.py makes the X-CALENDARSERVER-*-COMMENT properties text (4.1+:
   * CalendarServer-4.1 `sDefaultValueTypeMap[...] = VALUETYPE_TEXT`, 4.2+ `registerDefaultValue`).
   */
  calendarServerValueTypes: boolean;
}

/** One frozen table per release: the classifier asks for it several times per message. */
const FEATURES = new Map<number, Readonly<Features>>();

export function featuresOf(v: Pick<ServerVersion, 'major' | 'minor'>): Readonly<Features> {
  if (!Number.isInteger(v.major) || !Number.isInteger(v.minor) || v.minor < 0 || v.minor >= 1000) return computeFeatures(v);
  const key = v.major * 1000 + v.minor;
  let f = FEATURES.get(key);
  if (!f) FEATURES.set(key, (f = Object.freeze(computeFeatures(v))));
  return f;
}

function computeFeatures(v: Pick<ServerVersion, 'major' | 'minor'>): Features {
  return {
    includes: atLeast(v, 3),
    recursiveIncludes: atLeast(v, 6),
    importConfig: atLeast(v, 6),
    includePathExpansion: atLeast(v, 3, 1),
    includesRelativeToConfigRoot: !(v.major === 5 && v.minor < 2),
    includeNeedsOwnRoots: atLeast(v, 3) && !(v.major === 5 && v.minor < 2),
    patternsLowercase: atLeast(v, 3),
    suppressionDays: atLeast(v, 4, 1),
    mailIcons: !atLeast(v, 4, 2),
    pop3NeverLogsIn: v.major === 5 && v.minor === 0,
    imapCleartextLoginRaises: (v.major === 4 && v.minor === 1) || (v.major === 5 && v.minor === 0),
    imapUnseenOnly: atLeast(v, 5, 1),
    selectiveDelete: atLeast(v, 5, 1),
    unknownTokenAge: atLeast(v, 7),
    forwardsHumanReplies: atLeast(v, 3),
    forwardRaises: v.major === 5 || (v.major === 6 && v.minor === 0),
    addsMissingProdid: atLeast(v, 6, 1),
    replyWorkCatches: atLeast(v, 6, 1),
    sanitizeCalendar: atLeast(v, 7),
    sanitizeUpperMethod: atLeast(v, 8),
    singleMainComponent: atLeast(v, 3) && !atLeast(v, 5, 1),
    organizerOnCalendar: !atLeast(v, 3),
    schedulerValidatesCalendar: atLeast(v, 3, 1),
    loggerDecodesUtf8: atLeast(v, 8),
    keychainOnlyIfEmpty: atLeast(v, 8),
    subjectSecondHeader: atLeast(v, 3, 2),
    fromUsesEmailParam: atLeast(v, 3, 1),
    messageIdServerHostName: atLeast(v, 7),
    attachmentBeforeLookup: !atLeast(v, 3),
    calendarParser: atLeast(v, 6) ? 'pycalendar-2016' : atLeast(v, 3) ? 'pycalendar-2013' : 'vobject',
    calendarServerValueTypes: atLeast(v, 4, 1),
  };
}

export function behaviourOf(v: Pick<ServerVersion, 'line'>): LineBehaviour {
  return LINES[v.line];
}

/** The main config file the release reads when none is named (`DEFAULT_CONFIG_FILE`, `stdconfig.py`). */
export function defaultConfigFile(v: ServerVersion, platform: NodeJS.Platform = process.platform): string {
  if (platform !== 'darwin') return LINES[v.line].defaultConfigFiles.other;
  if (v.major === 3) return '/etc/caldavd/caldavd.plist';
  return LINES[v.line].defaultConfigFiles.darwin;
}

/** Every distinct default location, newest first, for `--config` discovery. */
export function candidateConfigFiles(platform: NodeJS.Platform = process.platform): string[] {
  const files = [
    platform === 'darwin' ? LINES['5.0+'].defaultConfigFiles.darwin : LINES['5.0+'].defaultConfigFiles.other,
    platform === 'darwin' ? LINES['3.x-4.x'].defaultConfigFiles.darwin : LINES['3.x-4.x'].defaultConfigFiles.other,
    '/etc/caldavd/caldavd.plist',
  ];
  return [...new Set(files)];
}
