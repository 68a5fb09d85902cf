/** The receiving mailbox a reader connects to, checked once before any connection is tried. */
import type { ReceivingSettings } from '../config/settings.js';
import { keychainUnread } from '../config/keychain.js';
import { CannotRunError } from '../report/exit.js';

/** `Receiving.Server` trimmed; throws when it is empty or `Port` is 0 (the server has no default). */
export function mailboxHost(receiving: ReceivingSettings): string {
  const host = receiving.server.trim();
  if (!host) throw new CannotRunError('Scheduling.iMIP.Receiving.Server is empty: there is no mailbox to poll');
  if (!receiving.port) throw new CannotRunError('Scheduling.iMIP.Receiving.Port is 0: Calendar Server has no default and would connect to port 0');
  return host;
}

/**
 * Why a reader opens no session: no user name or password to log in with. On macOS the server
 * may take an empty password from the System keychain (`keychainAccount`), which imip does not read.
 */
export function noCredentialsText(receiving: ReceivingSettings): string {
  return receiving.keychainAccount && receiving.username
    ? keychainUnread('Receiving')
    : 'no user name or password is configured';
}
