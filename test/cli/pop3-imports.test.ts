/**
 * Connection tests load only the modules of the protocol being tested: `test-mailbox` and
 * `check-config --connect` on a POP3 mailbox never load imapflow (nor nodemailer).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';

const TRACE = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));

function loaded(args: string[]): { urls: string[]; status: number | null } {
  const file = join(tempDir(), 'trace');
  const r = spawnSync(process.execPath, ['--import', TRACE, BIN, ...args], { env: { ...process.env, IMIP_TRACE_FILE: file }, encoding: 'utf8' });
  return { urls: readFileSync(file, 'utf8').split('\n').filter(Boolean), status: r.status };
}

function pop3Config(): string {
  const s = getStack();
  const cal = s.users.find((u) => u.local === 'calendar')!;
  return writePlist(tempDir(), 'caldavd.plist', {
    Scheduling: {
      iMIP: {
        Enabled: true,
        Sending: { Server: s.host, Port: s.ports.smtp, UseSSL: true, Address: cal.address, Username: cal.address, Password: cal.password },
        Receiving: { Server: s.host, Port: s.ports.pop3s, UseSSL: true, Type: 'pop', Username: cal.address, Password: cal.password, PollingSeconds: 30 },
      },
    },
  });
}

describe('POP3 commands never load imapflow', () => {
  for (const cmd of [['test-mailbox'], ['check-config', '--connect']]) {
    it(`imip ${cmd.join(' ')} on a POP3 mailbox`, () => {
      const { urls, status } = loaded([...cmd, '--config', pop3Config(), '--ca-file', getStack().ca, '--json']);
      expect(status === 0 || status === 1).toBe(true);
      expect(urls.some((u) => u.includes('/dist/probes/pop3-probe.js'))).toBe(true);
      expect(urls.filter((u) => u.includes('imapflow') || u.includes('/dist/probes/imap-probe.js'))).toEqual([]);
      expect(urls.filter((u) => u.includes('nodemailer'))).toEqual([]);
    });
  }
});
