/**
 * imapflow, loaded without the parts the tool does not use up front.
 *
 * `require('imapflow')` costs about 115 ms on a 2-core machine, and most of it is packages imapflow
 * loads for features the tool never or rarely touches: pino (its default logger: the tool always
 * passes a logger of its own), socks (proxies), libmime, iconv-lite and encoding-japanese
 * (decoding header words, charsets and message downloads: the poll parses its own FETCH answers),
 * mailsplit, libqp and libbase64 (downloads). While imapflow's own files load, each of those
 * requires gets a stand-in that loads the real package on first use, from the same place and with
 * the same resolution; nothing is left out, only deferred. That halves the load, which every IMAP
 * command pays (`test-mailbox`, `poll`, `diagnose`, `send-test --reply-from`).
 *
 * The stand-in must answer `__esModule` without loading, because TypeScript's `__importDefault`
 * asks for it while imapflow's file loads: the table holds each package's value, and a test checks
 * it against the installed packages. Anything not in the table, and any Node without
 * `Module._load`, loads as usual.
 */
import { Module, createRequire } from 'node:module';
import type * as Imapflow from 'imapflow';

/** Packages imapflow's files require that load on first use, and whether each sets `__esModule`. */
export const DEFERRED_DEPENDENCIES: ReadonlyMap<string, boolean> = new Map([
  ['pino', false],
  ['socks', true],
  ['libmime', false],
  ['iconv-lite', false],
  ['encoding-japanese', false],
  ['@zone-eu/mailsplit', false],
  ['@zone-eu/mailsplit/lib/flowed-decoder.js', false],
  ['libqp', true],
  ['libbase64', true],
]);

type Load = (request: string, parent: { filename?: string | null } | undefined, isMain: boolean) => unknown;

const IMAPFLOW_FILE = /[\\/]node_modules[\\/]imapflow[\\/]/;

/** A stand-in for a module's exports that loads it on first use. */
function deferred(load: () => unknown, esModule: boolean): unknown {
  let real: unknown;
  const get = (): object => (real ??= load()) as object;
  return new Proxy(function deferredModule() {}, {
    get: (_, key) => (key === '__esModule' ? esModule || undefined : Reflect.get(get(), key)),
    has: (_, key) => Reflect.has(get(), key),
    apply: (_, self, args) => Reflect.apply(get() as (...a: unknown[]) => unknown, self, args),
    construct: (_, args) => Reflect.construct(get() as new (...a: unknown[]) => object, args),
  });
}

let cached: typeof Imapflow | undefined;

/** imapflow's exports; its optional packages load when first used. */
export function loadImapflow(): typeof Imapflow {
  if (cached) return cached;
  const req = createRequire(import.meta.url);
  const M = Module as unknown as { _load?: Load };
  const original = M._load;
  if (typeof original !== 'function') return (cached = req('imapflow') as typeof Imapflow);
  M._load = function (this: unknown, request, parent, isMain) {
    const esModule = DEFERRED_DEPENDENCIES.get(request);
    if (esModule !== undefined && parent?.filename && IMAPFLOW_FILE.test(parent.filename)) {
      return deferred(() => original.call(this, request, parent, false), esModule);
    }
    return original.call(this, request, parent, isMain);
  };
  try {
    cached = req('imapflow') as typeof Imapflow;
  } finally {
    M._load = original;
  }
  return cached;
}

export const ImapFlow: typeof Imapflow.ImapFlow = loadImapflow().ImapFlow;
export type ImapFlow = Imapflow.ImapFlow;

/**
 * Open INBOX with the SELECT or EXAMINE alone, as Calendar Server's Twisted client does
 * (`self.select("Inbox")` once logged in: CalendarServer-2.5 and 4.3 twistedcaldav/mail.py,
 * 5.0..9.2 txdav/caldav/datastore/scheduling/imip/inbound.py `IMAP4DownloadProtocol.cbLoggedIn`).
 * Before it opens a mailbox it has not listed, imapflow sends `LIST "" INBOX` and `LSUB "" INBOX`
 * for its delimiter and flags (imapflow commands/select.js): two round trips the server never
 * makes, and a server that refuses that LIST would fail a mailbox the server reads. INBOX is
 * marked as listed first, so imapflow goes straight to the open; nothing of the mailbox object
 * the tool reads comes from LIST.
 */
export function openInbox(client: ImapFlow, readOnly: boolean): ReturnType<ImapFlow['mailboxOpen']> {
  const folders = (client as unknown as { folders?: unknown }).folders;
  if (folders instanceof Map && !folders.has('INBOX')) folders.set('INBOX', { path: 'INBOX', listed: true });
  return client.mailboxOpen('INBOX', { readOnly });
}
