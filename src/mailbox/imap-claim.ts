/**
 * The IMAP commands a `--apply` claim is made of, on a SELECTed INBOX (imapflow session):
 *
 * - {@link storeKeywords}: `UID STORE <uid> [(UNCHANGEDSINCE <modseq>)] ±FLAGS (<keywords>)`,
 *   reading the tagged `[MODIFIED]` response code and the FETCH the server sends back. imapflow's
 *   own `messageFlagsAdd` returns true whether or not the conditional store happened, so this
 *   talks to the session directly.
 * - {@link readFlags}: `UID FETCH <uid> (FLAGS MODSEQ)`: the claim read back.
 *
 * Why a read-back at all: a conditional STORE (RFC 7162 §3.1.3) is not enough on a real server.
 * Measured on Dovecot 2.3.19 with two runs claiming the same 50 messages at the same moment: in
 * about one round in forty, both sessions' `UID STORE <uid> (UNCHANGEDSINCE m) +FLAGS` with the
 * same m were answered `OK` without `[MODIFIED]`, and both runs injected that message (the
 * 51 injections for 50 messages). Dovecot checks the modseq when the STORE starts and again when
 * it commits (imap/cmd-store.c, lib-index mail-index-transaction-finish.c); exactly where a claim
 * committed by another session at the same moment slips between the two was not pinned down, and
 * this does not depend on it: a keyword that only this poller writes, read back after the STORE,
 * cannot be fooled, because of two claimers the later one always sees the earlier one's keyword.
 */
import type { ImapFlow } from 'imapflow';

export type StoreResult = { result: 'won'; modseq?: string; flags?: string[] } | { result: 'lost' } | { result: 'gone' };

interface ImapExec {
  exec(command: string, attributes: unknown[], options?: unknown): Promise<{ response?: { attributes?: unknown[] }; next: () => void }>;
}

type Attr = { type?: string; value?: string; section?: Attr[] } | Attr[];

/** The attributes of an untagged FETCH as a map (UID, FLAGS, MODSEQ...). */
function fetchAttributes(untagged: { attributes?: unknown[] }): Map<string, unknown> {
  const attrs = (untagged.attributes?.[1] ?? []) as Attr[];
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < attrs.length; i += 2) {
    const k = (attrs[i] as { value?: string }).value;
    if (k) map.set(k.toUpperCase(), attrs[i + 1]);
  }
  return map;
}

function flagsOf(map: Map<string, unknown>): string[] | undefined {
  const fl = map.get('FLAGS') as Array<{ value?: string }> | undefined;
  return fl ? fl.map((f) => String(f.value)) : undefined;
}

function modseqOf(map: Map<string, unknown>): string | undefined {
  const ms = map.get('MODSEQ') as Array<{ value?: string }> | undefined;
  return ms?.[0]?.value ? String(ms[0].value) : undefined;
}

/**
 * Add or remove keywords on one message, conditionally when `unchangedSince` is given. `lost`:
 * the server answered `[MODIFIED]` (the message changed since that modseq); `gone`: no such
 * message any more (the server sent no FETCH for it).
 */
export async function storeKeywords(client: ImapFlow, uid: number, op: '+' | '-', keywords: string[], unchangedSince?: string): Promise<StoreResult> {
  let fetched: { modseq?: string; flags?: string[] } | null = null;
  const res = await (client as unknown as ImapExec).exec(
    'UID STORE',
    [
      { type: 'SEQUENCE', value: String(uid) },
      ...(unchangedSince !== undefined
        ? [
            [
              { type: 'ATOM', value: 'UNCHANGEDSINCE' },
              { type: 'ATOM', value: unchangedSince },
            ],
          ]
        : []),
      { type: 'ATOM', value: `${op}FLAGS` },
      keywords.map((k) => ({ type: 'ATOM', value: k })),
    ],
    {
      untagged: {
        // Several FETCH responses may come (changes by other sessions are reported here too);
        // only this UID's counts, and the last one is the newest.
        FETCH: async (untagged: { attributes?: unknown[] }) => {
          const map = fetchAttributes(untagged);
          if (Number((map.get('UID') as { value?: string } | undefined)?.value) !== uid) return;
          const modseq = modseqOf(map);
          const flags = flagsOf(map);
          fetched = { ...(modseq ? { modseq } : {}), ...(flags ? { flags } : {}) };
        },
      },
    },
  );
  const attrs = (res.response?.attributes ?? []) as Array<{ section?: Array<{ value?: string }> }>;
  res.next();
  if (attrs.some((a) => a.section?.[0]?.value?.toUpperCase() === 'MODIFIED')) return { result: 'lost' };
  if (!fetched) return { result: 'gone' };
  const f = fetched as { modseq?: string; flags?: string[] };
  return { result: 'won', ...(f.modseq ? { modseq: f.modseq } : {}), ...(f.flags ? { flags: f.flags } : {}) };
}

/** The message's flags and modseq now, or null when it no longer exists. */
export async function readFlags(client: ImapFlow, uid: number): Promise<{ flags: string[]; modseq?: string } | null> {
  let out: { flags: string[]; modseq?: string } | null = null;
  for await (const msg of client.fetch(String(uid), { uid: true, flags: true }, { uid: true })) {
    if (msg.uid !== uid || !msg.flags) continue;
    out = { flags: [...msg.flags], ...(msg.modseq !== undefined ? { modseq: String(msg.modseq) } : {}) };
  }
  return out;
}
