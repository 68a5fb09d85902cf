/**
 * INBOX is opened with the SELECT or EXAMINE alone, as Calendar Server's Twisted client opens it
 * (`self.select("Inbox")` once logged in, every release). imapflow would first send
 * `LIST "" INBOX` and `LSUB "" INBOX`: two round trips the server never makes, and on a server
 * that refuses LIST to this account, a failure where the server reads the mailbox. A scripted
 * server refuses LIST here, which Dovecot cannot be made to do for one test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type net from 'node:net';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { closeServer, lineServer, portOf } from '../helpers/line-server.js';

const seen: string[] = [];
let server: net.Server;

beforeAll(async () => {
  server = await lineServer({
    greeting: '* OK IMAP4rev1 ready\r\n',
    answer: (line) => {
      const [tag, command, sub] = line.split(' ');
      const verb = (command ?? '').toUpperCase() === 'UID' ? `UID ${(sub ?? '').toUpperCase()}` : (command ?? '').toUpperCase();
      seen.push(verb === 'LIST' || verb === 'LSUB' ? line.slice(line.indexOf(' ') + 1) : verb);
      if (verb === 'CAPABILITY') return `* CAPABILITY IMAP4rev1\r\n${tag} OK CAPABILITY completed\r\n`;
      if (verb === 'LIST' || verb === 'LSUB') return `${tag} NO [NOPERM] Listing mailboxes is not allowed for this account\r\n`;
      if (verb === 'EXAMINE' || verb === 'SELECT') return `* 0 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n* OK [UIDNEXT 1] Predicted next UID\r\n${tag} OK [READ-ONLY] ${verb} completed\r\n`;
      if (verb === 'SEARCH' || verb === 'UID SEARCH') return `* SEARCH\r\n${tag} OK SEARCH completed\r\n`;
      if (verb === 'LOGOUT') return `* BYE Logging out\r\n${tag} OK LOGOUT completed\r\n`;
      return `${tag} OK ${verb} completed\r\n`;
    },
  });
});

afterAll(async () => {
  if (server) await closeServer(server);
});

function config(): string {
  return writePlist(tempDir(), 'caldavd.plist', {
    ServerHostName: 'cal.example.test',
    Scheduling: {
      iMIP: {
        Enabled: true,
        Receiving: { Server: '127.0.0.1', Port: portOf(server), UseSSL: false, Type: 'imap', Username: 'calendar@example.test', Password: 'Pw-4417-secret' },
      },
    },
  });
}

describe('a server that refuses LIST: INBOX is opened all the same, as the server opens it', () => {
  it('test-mailbox: the inbox stage passes, and no LIST or LSUB of INBOX was sent', async () => {
    seen.length = 0;
    const r = await runCli(['test-mailbox', '--config', config(), '--server-version', '9.2', '--timeout', '5', '--json']);
    const doc = jsonOf(r, 'test-mailbox');
    expect(doc.stages.find((st: { stage: string }) => st.stage === 'inbox'), JSON.stringify(doc.stages)).toMatchObject({ ok: true });
    expect(seen).toContain('EXAMINE');
    expect(seen.filter((v) => /^(LIST|LSUB) .*INBOX/i.test(v))).toEqual([]);
  });

  it('poll --once reads the empty INBOX and exits 0', async () => {
    seen.length = 0;
    const r = await runCli(['poll', '--once', '--config', config(), '--server-version', '9.2', '--timeout', '5', '--state-dir', tempDir(), '--json']);
    const doc = jsonOf(r, 'poll');
    expect([r.code, doc.error ?? null, doc.messages]).toEqual([0, null, []]);
    expect(seen, JSON.stringify(seen)).toContain('EXAMINE');
    expect(seen.filter((v) => /^(LIST|LSUB) .*INBOX/i.test(v))).toEqual([]);
  });
});
