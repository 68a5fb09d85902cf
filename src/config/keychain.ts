/**
 * macOS: the Sending and Receiving passwords the server takes from the System keychain.
 *
 * At start-up, with iMIP enabled and a direction's Username set, the server runs
 * `/usr/bin/security find-generic-password -a "<Username>@<Server>" -g` and uses the password it
 * finds (twistedcaldav/util.py `getPasswordFromKeychain`). Where there is no `security` tool, that
 * is, on any system but macOS, the lookup is skipped (KeychainAccessError).
 * - 2.x (config.py `updateScheduling`) and 5.0-7.x (stdconfig.py `_updateScheduling`) look up both
 *   directions whatever the plist holds, and a password found replaces the plist's;
 * - 3.x-4.x return before any lookup when `Scheduling.iMIP.Password` is set
 *   (CalendarServer-3.0..4.3.2 stdconfig.py, "If we already have the password, don't fetch it again");
 * - 8.0 and later look up a direction only when its Password is empty
 *   (CalendarServer-8.0..9.2 stdconfig.py).
 *
 * imip never reads the keychain: what it can say is that the server's login uses a password the
 * tool does not have, so the connection tests cannot try it.
 */
import type { ImipSettings } from './settings.js';
import type { ReleaseLine } from '../server/release.js';

export type Direction = 'Sending' | 'Receiving';

/**
 * The keychain account ("<Username>@<Server>") whose password the server logs in with for this
 * direction although the plist's Password is empty; null when the server looks in no keychain
 * for it (not macOS, no Username, or 3.x-4.x with Scheduling.iMIP.Password set).
 */
function keychainFillsEmptyPassword(settings: ImipSettings, direction: Direction, line: ReleaseLine, platform: NodeJS.Platform): string | null {
  const d = direction === 'Sending' ? settings.sending : settings.receiving;
  if (platform !== 'darwin' || !settings.enabled || !d.username || d.password) return null;
  if (line === '3.x-4.x' && settings.password) return null;
  return `${d.username}@${d.server}`;
}

/**
 * The settings with each direction's `keychainAccount` set where the server takes the empty
 * Password from the keychain ({@link keychainFillsEmptyPassword}); the same object otherwise.
 */
export function withKeychainAccounts(settings: ImipSettings, line: ReleaseLine, platform: NodeJS.Platform): ImipSettings {
  const sending = keychainFillsEmptyPassword(settings, 'Sending', line, platform);
  const receiving = keychainFillsEmptyPassword(settings, 'Receiving', line, platform);
  if (!sending && !receiving) return settings;
  return {
    ...settings,
    sending: sending ? { ...settings.sending, keychainAccount: sending } : settings.sending,
    receiving: receiving ? { ...settings.receiving, keychainAccount: receiving } : settings.receiving,
  };
}

/** Why a login cannot be tried here: "Receiving.Password is empty and Calendar Server takes it from …". */
export function keychainUnread(direction: Direction, account?: string): string {
  return `${direction}.Password is empty and Calendar Server takes it from the System keychain${account ? ` (account "${account}")` : ''}, which imip does not read`;
}

/** How to give one run the password the server takes from the keychain: read as root, passed with `--set`. */
export function keychainPasswordFix(direction: Direction, account: string): string {
  return `To test the login the server makes, pass the keychain's password for this run: --set ${direction}.Password="$(sudo security find-generic-password -a '${account.replace(/'/g, `'\\''`)}' -w /Library/Keychains/System.keychain)"`;
}
