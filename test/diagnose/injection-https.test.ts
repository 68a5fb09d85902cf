/**
 * The reply injection over https (a 3.x–4.x server with EnableSSL), against the test double of
 * `/inbox/` serving the test stack's certificate. `--ca-file` is trusted in addition to the
 * system's store, `NODE_EXTRA_CA_CERTS` included, for the injection as for every mail connection:
 * an admin who trusts the calendar server's CA through `NODE_EXTRA_CA_CERTS` and gives the mail
 * server's CA with `--ca-file` must see both verified.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadForCommand } from '../../src/commands/shared.js';
import { probeInjection } from '../../src/diagnose/injection-probe.js';
import { extraCaCertsHidden } from '../../src/net/tls-info.js';
import { runCli } from '../helpers/cli.js';
import { getStack } from '../helpers/stack.js';
import { startInboxDouble, type InboxDouble } from '../doubles/inbox-server.js';
import { config, writeConfig } from '../fixtures/diagnose/helpers.js';

const SECRET = 'gateway-secret-3'; // baseConfig's Scheduling.iMIP.Password
// Whether this Node builds a context given a CA of its own without NODE_EXTRA_CA_CERTS (the runs below set it).
const DROPS_EXTRA_CERTS = extraCaCertsHidden({ NODE_EXTRA_CA_CERTS: 'set below' });
let double: InboxDouble;
let plist: string;

beforeAll(async () => {
  const stack = getStack();
  double = await startInboxDouble({ line: '3.x-4.x', secret: SECRET, tls: { cert: stack.caPem, key: readFileSync(join(dirname(stack.ca), 'key.pem'), 'utf8') } });
  // 3.x–4.x: EnableSSL true, so the gateway posts to https://ServerHostName:SSLPort/inbox/.
  plist = writeConfig(config('4.3', { ServerHostName: 'localhost', 'Scheduling.iMIP.MailGatewayServer': 'localhost', EnableSSL: true, SSLPort: double.port }));
});

afterAll(async () => {
  await double?.close();
});

async function probe(ca: string | undefined) {
  const { ctx } = await loadForCommand({ config: plist, serverVersion: '4.3' });
  return probeInjection(ctx.settings, ctx.version, { timeoutMs: 3000, insecure: false, ...(ca ? { ca } : {}) });
}

describe('reply injection over https', () => {
  it('verifies the calendar server\'s certificate against --ca-file, and refuses one it does not trust', async () => {
    const ok = await probe(getStack().caPem);
    expect(ok).toMatchObject({ outcome: 'ok', url: `https://localhost:${double.port}/inbox/`, attempts: [{ auth: 'header', status: 400 }] });
    const stranger = await probe(readFileSync(getStack().clientVariants!.otherCa, 'utf8'));
    expect(stranger.outcome).toBe('unreachable');
    expect(stranger.reason).toMatch(/certificate/i);
  });

  it('trusts NODE_EXTRA_CA_CERTS together with a --ca-file for another server, where Node keeps both (diagnose --probe injection)', async () => {
    // The double answers from this process: the command runs beside it, not in a blocking spawn.
    const run = async (extraCa: string): Promise<{ outcome?: string; reason?: string }> => {
      const r = await runCli(['diagnose', '--config', plist, '--server-version', '4.3', '--probe', 'injection', '--ca-file', getStack().clientVariants!.otherCa, '--timeout', '5', '--json'], {
        env: { NODE_EXTRA_CA_CERTS: extraCa },
      });
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
      return JSON.parse(r.stdout).probes?.injection ?? {};
    };
    const withExtra = await run(getStack().ca);
    if (DROPS_EXTRA_CERTS) {
      // Node 20, 21 and 22 before 22.7 build a context that is given a CA of its own from their
      // bundled roots alone, without NODE_EXTRA_CA_CERTS: the same for every connection.
      expect(withExtra.outcome).toBe('unreachable');
      expect(withExtra.reason).toMatch(/self-signed|certificate/i);
    } else {
      expect(withExtra, withExtra.reason).toMatchObject({ outcome: 'ok' });
    }
    // Without it, the same run cannot verify the calendar server: the CA above is what made it.
    const without = await run(getStack().clientVariants!.otherCa);
    expect(without.outcome).toBe('unreachable');
    expect(without.reason).toMatch(/certificate/i);
  });
});
