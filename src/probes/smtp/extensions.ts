/** EHLO: the extensions a relay lists, and how they are shown as evidence. */
import type { SmtpReply } from './wire.js';

export interface SmtpExtensions {
  /** Keyword → parameters, keywords upper-cased. */
  keywords: Map<string, string>;
  /** AUTH mechanisms, upper-cased, in the server's order. */
  auth: string[];
  starttls: boolean;
}

export function parseEhlo(reply: SmtpReply): SmtpExtensions {
  const keywords = new Map<string, string>();
  const auth: string[] = [];
  for (const line of reply.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.toUpperCase();
    const params = (m[2] ?? '').trim();
    keywords.set(key, params);
    if (key === 'AUTH') for (const mech of params.split(/\s+/)) if (mech && !auth.includes(mech.toUpperCase())) auth.push(mech.toUpperCase());
  }
  return { keywords, auth, starttls: keywords.has('STARTTLS') };
}

export function extensionEvidence(ext: SmtpExtensions): Record<string, unknown> {
  return {
    extensions: [...ext.keywords.entries()].map(([k, v]) => (v ? `${k} ${v}` : k)),
    authMechanisms: ext.auth,
    starttls: ext.starttls,
    ...(ext.keywords.has('SIZE') && ext.keywords.get('SIZE') ? { maxSize: Number(ext.keywords.get('SIZE')) } : {}),
  };
}

