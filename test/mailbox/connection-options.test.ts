/** --ca-file means "trust this too" on every mailbox connection, IMAP and POP3 alike. */
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { imapFlowOptions } from '../../src/mailbox/imap-reader.js';
import { pop3ClientOptions } from '../../src/mailbox/pop3-reader.js';
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
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBprivateCA\n-----END CERTIFICATE-----\n';

describe('mailbox connection options', () => {
  it('POP3 adds --ca-file to the system roots instead of replacing them', () => {
    const o = pop3ClientOptions(receiving({ port: 995, protocol: 'pop3' }), { timeoutMs: 5000, ca: PEM, insecure: false });
    expect(o.ca).toContain(PEM.trim());
    expect(o.ca).toContain(tls.rootCertificates[0]!.trim());
    expect(o).toMatchObject({ implicitTls: true, rejectUnauthorized: true, servername: 'imap.example.test', timeoutMs: 5000 });
  });

  it('IMAP does the same', () => {
    const o = imapFlowOptions(receiving(), { timeoutMs: 5000, ca: PEM, insecure: false });
    const ca = (o!.tls as { ca: string[] }).ca;
    expect(ca).toContain(PEM);
    expect(ca).toContain(tls.rootCertificates[0]);
  });

  it('--insecure turns checks off on both; no --ca-file leaves the system roots alone', () => {
    const p = pop3ClientOptions(receiving({ server: '127.0.0.1', useSSL: false }), { timeoutMs: 1000, insecure: true });
    expect(p).toMatchObject({ rejectUnauthorized: false, implicitTls: false });
    expect(p.ca).toBeUndefined();
    expect(p.servername).toBeUndefined();
    const i = imapFlowOptions(receiving({ useSSL: false }), { timeoutMs: 1000, insecure: true });
    expect(i!.tls).toEqual({ rejectUnauthorized: false });
    expect(i!.secure).toBe(false);
  });
});
