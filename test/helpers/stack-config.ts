/**
 * A caldavd.plist pointing at the test mail stack: SMTP submission (STARTTLS, AUTH after TLS) and
 * IMAPS, both as the stack's calendar user. Each test changes only what it is about.
 */
import { getStack } from './stack.js';
import { tempDir, writePlist, type Obj } from './plist.js';

export interface StackConfigChanges {
  /** Keys of Scheduling.iMIP.Sending to set over the defaults. */
  sending?: Obj;
  /** Keys of Scheduling.iMIP.Receiving to set over the defaults. */
  receiving?: Obj;
  /** Prefix of the temporary directory the file is written to. */
  prefix?: string;
}

export function writeStackConfig(changes: StackConfigChanges = {}): string {
  const s = getStack();
  const cal = s.users.find((u) => u.local === 'calendar')!;
  const cfg: Obj = {
    ServerHostName: 'cal.example.test',
    Scheduling: {
      iMIP: {
        Enabled: true,
        Sending: { Server: s.host, Port: s.ports.smtp, UseSSL: true, Address: cal.address, Username: cal.address, Password: cal.password, ...changes.sending },
        Receiving: {
          Server: s.host,
          Port: s.ports.imaps,
          UseSSL: true,
          Type: 'imap',
          Username: cal.address,
          Password: cal.password,
          PollingSeconds: 30,
          ...changes.receiving,
        },
        AddressPatterns: ['mailto:.*'],
      },
    },
  };
  return writePlist(tempDir(changes.prefix), 'caldavd.plist', cfg);
}
