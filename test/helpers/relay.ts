/**
 * A TCP relay on 127.0.0.1 in front of a real server's port, for tests that shape what the server
 * sends: a slow link, an answer held back, a cut at the right moment. What the client sends goes
 * through as it is; every chunk the server sends is handed to `down`, which writes it on to the
 * client (at once, later, or never).
 */
import net from 'node:net';

export interface Relay {
  port: number;
  close(): void;
}

export async function startRelay(
  target: { host: string; port: number },
  down: (chunk: Buffer, client: net.Socket) => void,
  /** Drop the client this long after the server closed (null: leave it open). */
  opts: { dropAfterServerCloseMs?: number | null } = {},
): Promise<Relay> {
  const server = net.createServer((client) => {
    const up = net.connect(target.port, target.host);
    client.on('data', (d) => up.write(d));
    up.on('data', (d: Buffer) => down(d, client));
    const drop = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('error', drop);
    up.on('error', drop);
    client.on('close', drop);
    const after = opts.dropAfterServerCloseMs;
    if (after !== undefined && after !== null) up.on('close', () => setTimeout(drop, after));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}
