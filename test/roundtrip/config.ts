/** The caldavd.plist of the round-trip tests: 9.2, sending and receiving as the stack's calendar account. */
import { ROUND_TRIP_USERS as U, type StackInfo } from '../mailstack/stack.js';
import { baseConfig, tempDir, withChange, writePlist, type Obj } from '../helpers/plist.js';

const I = 'Scheduling.iMIP';

export function roundTripConfig(
  s: StackInfo,
  o: {
    pop?: boolean;
    /** Another account as the gateway mailbox. */
    receivingUser?: { address: string; password: string };
    /** The gateway mailbox through another port (a relay in front of it). */
    gatewayPort?: number;
  } = {},
): string {
  const recv = o.receivingUser ?? U.calendar;
  let cfg: Obj = baseConfig('9.2');
  const set: Record<string, unknown> = {
    [`${I}.Sending.Server`]: s.host,
    [`${I}.Sending.Port`]: s.ports.smtp,
    [`${I}.Sending.UseSSL`]: true,
    [`${I}.Sending.Address`]: `Calendar <${U.calendar.address}>`,
    [`${I}.Sending.Username`]: U.calendar.address,
    [`${I}.Sending.Password`]: U.calendar.password,
    [`${I}.Receiving.Server`]: s.host,
    [`${I}.Receiving.Port`]: o.gatewayPort ?? (o.pop ? s.ports.pop3s : s.ports.imaps),
    [`${I}.Receiving.UseSSL`]: true,
    [`${I}.Receiving.Type`]: o.pop ? 'pop' : 'imap',
    [`${I}.Receiving.Username`]: recv.address,
    [`${I}.Receiving.Password`]: recv.password,
  };
  for (const [k, v] of Object.entries(set)) cfg = withChange(cfg, k, v);
  return writePlist(tempDir('imip-rt-'), 'caldavd.plist', cfg);
}
