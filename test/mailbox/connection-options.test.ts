/**
 * --ca-file means "trust this too" on every mailbox connection, IMAP and POP3 alike, through one
 * secure context per run (the system store plus that CA) rather than a copy of the store per
 * connection. Checked with real handshakes against local TLS servers.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { imapFlowOptions } from '../../src/mailbox/imap-reader.js';
import { pop3ClientOptions } from '../../src/mailbox/pop3-reader.js';
import { runContext } from '../../src/net/tls-handshake.js';
import type { ReceivingSettings } from '../../src/config/settings.js';

const receiving = (over: Partial<ReceivingSettings> = {}): ReceivingSettings => ({
  server: 'imap.example.test',
  port: 993,
  useSSL: true,
  type: 'imap',
  protocol: 'imap',
  username: 'calendar',
  password: 'x',
  pollingSeconds: 30,
  ...over,
});

/** A self-signed certificate for 127.0.0.1 (it is its own CA), made with openssl. */
function selfSigned(dir: string, name: string): { key: string; cert: string; file: string } {
  const key = join(dir, `${name}.key`);
  const file = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', file], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(file, 'utf8'), file };
}

function serve(c: { key: string; cert: string }): Promise<tls.Server> {
  return new Promise((resolve) => {
    const srv = tls.createServer({ key: c.key, cert: c.cert }, (s) => s.end());
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

const DIST = fileURLToPath(new URL('../../dist/mailbox/', import.meta.url));

// In a process of its own whose system store is `system` (Node reading OpenSSL's store,
// --use-openssl-ca, from SSL_CERT_FILE): handshakes with the options each reader builds for
// --ca-file `extra`.
const CHILD = `
const tls = require('node:tls');
const { pop3ClientOptions } = require(process.env.DIST + 'pop3-reader.js');
const { imapFlowOptions } = require(process.env.DIST + 'imap-reader.js');
const [extra, ...ports] = JSON.parse(process.argv[1]);
const r = (over) => ({ server: '127.0.0.1', port: 1, useSSL: true, type: 'imap', protocol: 'imap', username: 'u', password: 'p', pollingSeconds: 30, ...over });
const connect = { timeoutMs: 5000, ca: extra, insecure: false };
const pop = pop3ClientOptions(r({ protocol: 'pop3' }), connect);
const imap = imapFlowOptions(r(), connect);
const contexts = { pop3: pop.secureContext('implicit'), imap: imap.tls.secureContext };
const tryOne = (ctx, port) => new Promise((res) => {
  const s = tls.connect({ host: '127.0.0.1', port, secureContext: ctx, rejectUnauthorized: true }, () => { res('verified'); s.destroy(); });
  s.on('error', (e) => res(e.code || e.message));
});
(async () => {
  const out = { shared: contexts.pop3 === contexts.imap && pop.secureContext('implicit') === contexts.pop3 };
  for (const [name, ctx] of Object.entries(contexts)) out[name] = await Promise.all(ports.map((p) => tryOne(ctx, p)));
  process.stdout.write(JSON.stringify(out));
})();
`;

describe('mailbox connection options', () => {
  it('--ca-file is trusted in addition to the system store, by one context shared by IMAP and POP3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imip-ca-'));
    const system = selfSigned(dir, 'system-root');
    const extra = selfSigned(dir, 'ca-file');
    const stranger = selfSigned(dir, 'stranger');
    const servers = await Promise.all([system, extra, stranger].map(serve));
    try {
      const ports = servers.map((s) => (s.address() as AddressInfo).port);
      const out = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--use-openssl-ca', '-e', CHILD, JSON.stringify([extra.cert, ...ports])], { env: { ...process.env, DIST, SSL_CERT_FILE: system.file, SSL_CERT_DIR: mkdtempSync(join(tmpdir(), 'imip-empty-')) } }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        );
      });
      expect(JSON.parse(out)).toEqual({
        shared: true,
        pop3: ['verified', 'verified', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
        imap: ['verified', 'verified', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
      });
    } finally {
      for (const s of servers) s.close();
    }
  });

  it('--insecure turns checks off on both; no --ca-file leaves the system roots alone', () => {
    const p = pop3ClientOptions(receiving({ server: '127.0.0.1', useSSL: false }), { timeoutMs: 1000, insecure: true });
    expect(p).toMatchObject({ rejectUnauthorized: false, implicitTls: false });
    // Without --ca-file every handshake gets the run's context over the system store as it is.
    expect(p.secureContext?.('implicit')).toBe(runContext(undefined));
    expect(p.secureContext?.('stls')).toBe(runContext(undefined));
    expect(p.servername).toBeUndefined();
    const i = imapFlowOptions(receiving({ useSSL: false }), { timeoutMs: 1000, insecure: true });
    expect(i!.tls).toEqual({ rejectUnauthorized: false, secureContext: runContext(undefined) });
    expect(i!.secure).toBe(false);
    // Where the server's client starts TLS itself, STARTTLS offers TLS 1.0 only, on both.
    const old = { timeoutMs: 1000, insecure: false, mailboxUpgrade: 'tls1.0-only' as const };
    expect(imapFlowOptions(receiving({ useSSL: false }), old)!.tls!.secureContext).toBe(runContext(undefined, 'tls1.0-only'));
    expect(pop3ClientOptions(receiving({ useSSL: false }), old).secureContext?.('stls')).toBe(runContext(undefined, 'tls1.0-only'));
  });
});
