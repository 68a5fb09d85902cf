/**
 * A mail server that misbehaves on purpose, on 127.0.0.1, for the failures Postfix and Dovecot do
 * not produce on demand (a connection closed mid-exchange, a refused upgrade, slow answers). It
 * sends `greeting`, then answers each command line with what `answer` returns, `delayMs` later;
 * null closes the connection instead. `conn` is an object of each connection's own, for a server
 * whose answer depends on what came before (AUTH LOGIN's challenges).
 */
import net from 'node:net';
import { once } from 'node:events';

export async function lineServer(o: { greeting: string; answer: (line: string, conn: Record<string, unknown>) => string | null; delayMs?: number }): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    const reply = (text: string | null): void => {
      setTimeout(() => (text === null ? s.destroy() : s.write(text)), o.delayMs ?? 0);
    };
    reply(o.greeting);
    const conn: Record<string, unknown> = {};
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        reply(o.answer(line, conn));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

export function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}
