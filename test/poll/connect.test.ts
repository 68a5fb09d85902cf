/**
 * Opening the mailbox for a read-only poll (src/poll/connect.ts), on the real stack's Dovecot
 * behind a proxy that records each connection: with UseSSL true the tool's session connects while
 * the access check runs, and the cycle reads with it; with UseSSL false it waits for the check,
 * whose answer decides how it upgrades; a session opened with a check that stops the cycle is
 * closed, never left open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectOptions, loadForCommand } from '../../src/commands/shared.js';
import { openForReading, type MailboxContext } from '../../src/poll/connect.js';
import { getStack } from '../helpers/stack.js';
import { writeStackConfig } from '../helpers/stack-config.js';
import { CutProxy } from './helpers.js';

const proxies: CutProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

async function setup(o: { port: number; useSSL: boolean; version: string; ca: boolean }): Promise<{ ctx: MailboxContext; proxy: CutProxy }> {
  const s = getStack();
  const proxy = await new CutProxy({ host: '127.0.0.1', port: o.port }).start();
  proxies.push(proxy);
  const config = writeStackConfig({ receiving: { Server: '127.0.0.1', Port: proxy.port, UseSSL: o.useSSL, Type: 'imap' } });
  const { ctx } = await loadForCommand({ config, serverVersion: o.version });
  const connect = connectOptions({ ...(o.ca ? { caFile: s.ca } : {}), timeout: '10' });
  return { ctx: { settings: ctx.settings, version: ctx.version, protocol: 'imap', connect }, proxy };
}

async function closed(proxy: CutProxy): Promise<number> {
  for (let i = 0; i < 100 && proxy.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return proxy.open;
}

describe('opening the mailbox for a read-only poll', () => {
  it('UseSSL true: the session connects while the access check runs, and the cycle reads with it', async () => {
    const { ctx, proxy } = await setup({ port: getStack().ports.imaps, useSSL: true, version: '4.3', ca: true });
    // The check's connection is slow (each answer 120 ms late, as over a long link), so the
    // session's connect, which waits for imapflow to load, lands within it even on a loaded
    // machine (on loopback the whole check could end first).
    proxy.firstConnectionDelayMs = 120;
    const opening = await openForReading(ctx);
    const access = await opening.access;
    const checkedAt = performance.now();
    expect(access.serverBlocked || access.toolStopped).toBe(false);
    expect(proxy.accepted).toHaveLength(2);
    expect(proxy.accepted[1]!).toBeLessThan(checkedAt);
    const reader = await opening.reader();
    expect(reader.info).toMatchObject({ protocol: 'imap', tls: 'implicit', readOnly: true });
    // No third connection: the session opened with the check is the one used.
    expect(proxy.accepted).toHaveLength(2);
    await reader.close();
    expect(await closed(proxy)).toBe(0);
  });

  it('UseSSL false: the session connects only after the check, upgrading as it found', async () => {
    const { ctx, proxy } = await setup({ port: getStack().ports.imap, useSSL: false, version: '4.3', ca: true });
    const opening = await openForReading(ctx);
    await opening.access;
    expect(proxy.accepted).toHaveLength(1);
    const reader = await opening.reader();
    expect(proxy.accepted).toHaveLength(2);
    expect(reader.info.tls).toBe('starttls');
    await reader.close();
    expect(await closed(proxy)).toBe(0);
  });

  it('a check that stops the cycle: the session opened with it is closed (logged in on 9.x, refused without the CA)', async () => {
    // 9.x: Server given as an IP address never matches the certificate for the server's client,
    // while the tool's own check of it passes: its session logged in, and must be logged out.
    const blocked = await setup({ port: getStack().ports.imaps, useSSL: true, version: '9.2', ca: true });
    const b = await openForReading(blocked.ctx);
    expect((await b.access).serverBlocked).toBe(true);
    await b.abandon();
    expect(blocked.proxy.accepted).toHaveLength(2);
    expect(await closed(blocked.proxy)).toBe(0);

    // Without the CA the certificate does not verify for the tool: its session stops in the
    // handshake, before any password, and nothing stays open.
    const stopped = await setup({ port: getStack().ports.imaps, useSSL: true, version: '4.3', ca: false });
    const t = await openForReading(stopped.ctx);
    expect((await t.access).toolStopped).toBe(true);
    await t.abandon();
    await expect(t.reader()).rejects.toThrow(/certificate|self[- ]signed|verify/i);
    expect(await closed(stopped.proxy)).toBe(0);
  });
});
