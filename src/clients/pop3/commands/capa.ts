/** CAPA (RFC 2449): the server's capability list, or null when the server has no CAPA. */
import type { Pop3Connection } from '../connection.js';
import { bodyLines } from '../response.js';

export interface Capabilities {
  /** The lines as sent, such as `SASL PLAIN LOGIN`. */
  lines: string[];
  /** Upper-cased capability names (first word of each line). */
  names: string[];
  stls: boolean;
  user: boolean;
  top: boolean;
  uidl: boolean;
  pipelining: boolean;
  respCodes: boolean;
  authRespCode: boolean;
  /** SASL mechanisms, upper-cased (empty when none is listed). */
  sasl: string[];
  implementation?: string;
  /** Arguments of LOGIN-DELAY and EXPIRE when present. */
  loginDelay?: string;
  expire?: string;
}

export function parseCapabilities(lines: string[]): Capabilities {
  const words = lines.map((l) => l.trim().split(/\s+/));
  const names = words.map((w) => (w[0] ?? '').toUpperCase()).filter((n) => n.length > 0);
  const arg = (name: string): string | undefined => {
    const line = words.find((w) => (w[0] ?? '').toUpperCase() === name);
    return line ? line.slice(1).join(' ') : undefined;
  };
  const caps: Capabilities = {
    lines,
    names,
    stls: names.includes('STLS'),
    user: names.includes('USER'),
    top: names.includes('TOP'),
    uidl: names.includes('UIDL'),
    pipelining: names.includes('PIPELINING'),
    respCodes: names.includes('RESP-CODES'),
    authRespCode: names.includes('AUTH-RESP-CODE'),
    sasl: (arg('SASL') ?? '').split(/\s+/).filter(Boolean).map((m) => m.toUpperCase()),
  };
  const impl = arg('IMPLEMENTATION');
  if (impl) caps.implementation = impl;
  const delay = arg('LOGIN-DELAY');
  if (delay !== undefined) caps.loginDelay = delay;
  const expire = arg('EXPIRE');
  if (expire !== undefined) caps.expire = expire;
  return caps;
}

export async function capa(conn: Pop3Connection): Promise<Capabilities | null> {
  const res = await conn.command({ line: 'CAPA', multiline: true });
  if (!res.status.ok) return null;
  return parseCapabilities(bodyLines(res.body ?? Buffer.alloc(0)));
}
