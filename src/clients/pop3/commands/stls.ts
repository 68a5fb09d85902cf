/** STLS (RFC 2595 §4): ask for TLS on the plain port, then hand the socket to TLS. */
import type { Pop3Connection, TlsDetails } from '../connection.js';
import { expectOk } from './util.js';

/** Sends STLS and upgrades; throws kind 'tls' if the server refuses or the handshake fails. */
export async function stls(conn: Pop3Connection): Promise<TlsDetails> {
  const res = await conn.command({ line: 'STLS', exclusive: true, pauseOnOk: true });
  expectOk(res, 'STLS', 'tls');
  return conn.upgradeToTls();
}
