/**
 * After judging, remove the round trip's own reply from the gateway mailbox (unless --keep-reply),
 * and nothing else: IMAP `UID STORE +FLAGS (\Deleted)` + `UID EXPUNGE <uid>` (UIDPLUS; without it
 * the message stays flagged and the report says so); POP3 `DELE` of the message whose UIDL the
 * watcher saw, checked against its Message-ID, then QUIT.
 */
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { headerBytesToString, parseHeaderBlock } from '../imip/mime-headers.js';
import { Redactor } from '../net/net-stage.js';

export interface GatewayRemoval {
  removed: 'expunged' | 'flagged-deleted' | 'dele' | 'not-found' | 'not-removed';
  note?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function removeImap(receiving: ReceivingSettings, conn: ConnectOptions, uid: string, messageId: string | null): Promise<GatewayRemoval> {
  const { ImapFlow } = await import('../mailbox/imapflow-module.js');
  const { imapFlowOptions } = await import('../mailbox/imap-reader.js');
  const client = new ImapFlow(imapFlowOptions(receiving, conn));
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.mailboxOpen('INBOX');
    const meta = await client.fetchOne(uid, { uid: true, headers: ['message-id'] }, { uid: true });
    if (!meta) return { removed: 'not-found', note: `UID ${uid} is gone already (the server may have processed it)` };
    const id = parseHeaderBlock(headerBytesToString(Buffer.isBuffer(meta.headers) ? meta.headers : Buffer.alloc(0)), []).get('Message-ID') ?? null;
    if (messageId && id && id.trim().toLowerCase() !== messageId.trim().toLowerCase()) {
      return { removed: 'not-removed', note: `UID ${uid} now holds another message (${id}); left alone` };
    }
    if (client.capabilities.has('UIDPLUS')) {
      await client.messageDelete(uid, { uid: true });
      return { removed: 'expunged' };
    }
    await client.messageFlagsAdd(uid, ['\\Deleted'], { uid: true });
    return { removed: 'flagged-deleted', note: 'the server has no UIDPLUS: the reply is flagged \\Deleted, not expunged' };
  } finally {
    await Promise.race([client.logout().catch(() => undefined), sleep(2000)]);
    try {
      client.close();
    } catch {
      // closed
    }
  }
}

async function removePop3(receiving: ReceivingSettings, conn: ConnectOptions, uidl: string, messageId: string | null): Promise<GatewayRemoval> {
  const { Pop3Client } = await import('../clients/pop3/index.js');
  const { pop3ClientOptions } = await import('../mailbox/pop3-reader.js');
  const client = await Pop3Client.connect(pop3ClientOptions(receiving, conn));
  try {
    await client.login(receiving.username, receiving.password);
    const entry = (await client.uidl()).find((e) => e.uid === uidl);
    if (!entry) {
      await client.quit();
      return { removed: 'not-found', note: `UIDL ${uidl} is gone already (the server may have processed it)` };
    }
    const head = parseHeaderBlock(headerBytesToString(await client.top(entry.n, 0)), []);
    const id = head.get('Message-ID') ?? null;
    if (messageId && id && id.trim().toLowerCase() !== messageId.trim().toLowerCase()) {
      await client.quit();
      return { removed: 'not-removed', note: `UIDL ${uidl} holds another message (${id}); left alone` };
    }
    await client.dele(entry.n);
    await client.quit();
    return { removed: 'dele' };
  } catch (e) {
    client.close();
    throw e;
  }
}

export async function removeGatewayReply(receiving: ReceivingSettings, conn: ConnectOptions, id: string, messageId: string | null): Promise<GatewayRemoval> {
  const redactor = new Redactor([receiving.password]);
  try {
    return receiving.protocol === 'pop3' ? await removePop3(receiving, conn, id, messageId) : await removeImap(receiving, conn, id, messageId);
  } catch (e) {
    return { removed: 'not-removed', note: redactor.text((e as Error).message) };
  }
}
