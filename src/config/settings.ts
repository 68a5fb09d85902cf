/**
 * The effective iMIP settings as the server will use them, after includes and defaults
 * (`DEFAULT_CONFIG` of the release's `twistedcaldav/stdconfig.py`; 2.x `config.py` `defaultConfig`).
 * Probes, senders and pollers take these, never the raw plist.
 */
export interface SendingSettings {
  server: string;
  port: number;
  /** Sending side: STARTTLS required (`ESMTPSenderFactory(requireTransportSecurity=UseSSL)`). There is no TLS-from-the-first-byte mode. */
  useSSL: boolean;
  address: string;
  username: string;
  password: string;
  suppressionDays: number | null;
  /**
   * macOS: the System keychain account the server takes this empty Password from
   * (src/config/keychain.ts). Set by the command's loader; imip never reads its value.
   */
  keychainAccount?: string;
}

export type { MailboxProtocol } from '../server/protocol.js';
import type { MailboxProtocol } from '../server/protocol.js';

export interface ReceivingSettings {
  server: string;
  port: number;
  /** Receiving side: TLS from the first byte (2.x–4.x `mail.py` `IMAP4Service`/`POP3Service`, 5.0+ `MailRetriever.__init__`). */
  useSSL: boolean;
  /** As written in the plist. */
  type: string;
  /** What the server makes of `type` (2.x–4.x `MailGatewayServiceMaker.makeService`, 5.0+ `MailRetriever.__init__`): pop* is POP3; imap* is IMAP; else per release line. */
  protocol: MailboxProtocol | null;
  username: string;
  password: string;
  pollingSeconds: number;
  /** As on {@link SendingSettings.keychainAccount}. */
  keychainAccount?: string;
}

export interface ImipSettings {
  enabled: boolean;
  sending: SendingSettings;
  receiving: ReceivingSettings;
  addressPatterns: string[];
  /** 2.x-4.x only. */
  mailGatewayServer: string | null;
  mailGatewayPort: number | null;
  /** 2.x: injection user; 3.x-4.x: keychain account for `password`. */
  username: string | null;
  /** 2.x: injection user's password; 3.x-4.x: the shared secret. */
  password: string | null;
  /** 3.x-4.x. */
  header: string | null;
  guid: string | null;
  /** Top-level keys the gateway uses. */
  serverHostName: string;
  httpPort: number;
  sslPort: number;
  enableSSL: boolean;
  /**
   * `EnableTimezonesByReference` (3.1+; default false up to 5.1, true from 5.2): when true the
   * scheduler accepts a TZID without its VTIMEZONE. Null on 2.x and 3.0, which always want it.
   */
  timezonesByReference: boolean | null;
  /**
   * `SupportedComponents` (6.0+; VEVENT and VTODO by default): with VFREEBUSY and VTIMEZONE, the
   * component types the scheduler takes (twistedcaldav/stdconfig.py `_updateICalendar` →
   * ical.py `_updateAllowedComponents`, `tuple(...)` of the value). Null before 6.0, whose list is fixed.
   */
  supportedComponents: string[] | null;
  /**
   * 6.0+: the directory the server looks up a time zone it is not given in, when it is not the
   * zones the release ships (null: those, or before 6.0). twistedcaldav/timezones.py
   * `TimezoneCache.getDBPath`: TimezoneService.BasePath when the service is on and the path is set,
   * else DataRoot/zoneinfo unless UsePackageTimezones or DataRoot does not exist.
   */
  zoneDatabase: string | null;
}

/** TLS and timeout options every network step takes. */
export interface ConnectOptions {
  /** Per stage, milliseconds. */
  timeoutMs: number;
  /** PEM text of extra trust anchors (`--ca-file`). */
  ca?: string;
  caFile?: string;
  /** `--insecure`: certificate checks off, said in the output. */
  insecure: boolean;
  /**
   * What a mailbox session's STARTTLS/STLS offers: `tls1.0-only` where Calendar Server's own client
   * starts TLS itself (Twisted's default context), as decided by src/probes/server-access.ts.
   * Unset: the best version both sides support.
   */
  mailboxUpgrade?: 'tls1.0-only' | 'negotiate';
}

/** One step of a connectivity probe: resolve, connect, greeting, EHLO, STARTTLS, AUTH, ... */
export type { StageResult } from '../report/stage.js';
