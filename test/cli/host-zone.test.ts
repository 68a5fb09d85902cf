/**
 * The server host's time zone is this machine's, as the server's Python reads it (TZ, else
 * /etc/localtime): a Date header with only a zone name is aware when that zone is the host's own
 * (python-dateutil tzlocal), naive otherwise, and on 7.0+ an unknown token then fails the message.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const reply = readFileSync('test/fixtures/messages/token-uppercase.eml', 'latin1').replace(/^Date: .*$/m, 'Date: Mon, 2 Mar 2026 10:40:00 PST');

describe('diagnose --offline judges a Date by the zone of the machine it runs on', () => {
  it('PST is the host\'s own under TZ=PST8PDT (an old unknown token), unknown under TZ=UTC (the message fails)', async () => {
    const file = join(tempDir('imip-zone-'), 'pst.eml');
    writeFileSync(file, reply, 'latin1');
    const args = ['diagnose', '--offline', '--server-version', '9.2', '--config', 'examples/caldavd.plist', '--message', file, '--json'];
    const action = async (TZ: string): Promise<string> => {
      const r = await runCli(args, { env: { TZ } });
      return (jsonOf(r) as { messages: Array<{ serverAction: string }> }).messages[0]!.serverAction;
    };
    expect(await action('PST8PDT')).toBe('UNKNOWN_TOKEN_OLD');
    expect(await action('UTC')).toBe('UNKNOWN_FAILURE');
  });
});
