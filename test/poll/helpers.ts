/**
 * Helpers for the `poll --once` tests: a mail stack of the test file's own (dedicated users, so
 * purging and counting never races other test files), config plists pointing at it, the fixtures'
 * token store as `send-test` writes it, the poll core called in-process, and a TCP proxy that
 * can cut a mailbox connection mid-cycle.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { connectOptions, loadForCommand } from '../../src/commands/shared.js';
import { runApply } from '../../src/poll/apply.js';
import { deleteAllMailFor, loadTokenStore, runReadOnlyCycle, type CycleContext, type CycleHooks, type PollReport } from '../../src/poll/cycle.js';
import { injectionTarget } from '../../src/poll/inject.js';
import { loadTokenLookup } from '../../src/tokens/combine.js';
import type { ServerAction } from '../../src/server/poll-policy.js';
import { freePortOffset, startStack, type StackInfo } from '../mailstack/stack.js';
import { baseConfig, tempDir, withChange, writePlist, type Obj } from '../helpers/plist.js';
import { TOKENS } from '../imip/message-fixtures.js';

export { fixture, bigMessage, TOKENS, NOW } from '../imip/message-fixtures.js';

export interface Case {
  fixture: string;
  action: ServerAction;
  by?: Partial<Record<string, ServerAction>>;
  findings: string[];
  token: 'known' | 'unknown' | 'unchecked';
}

// The contract's fixture list (the "Done when"), with the verdict each must get.
export const CASES: Case[] = [
  { fixture: 'thunderbird-reply', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'outlook-reply', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'outlook-reply-no-organizer', action: 'INJECTION_SUBMITTED', findings: ['reply.organizer-missing'], token: 'known' },
  { fixture: 'gmail-reply', action: 'INJECTION_SUBMITTED', findings: ['reply.valarm'], token: 'known' },
  { fixture: 'apple-mail-reply', action: 'INJECTION_SUBMITTED', findings: ['reply.method-missing'], token: 'known' },
  { fixture: 'reply-all-other-first', action: 'NO_TOKEN', findings: [], token: 'unchecked' },
  { fixture: 'reply-to-bare-address', action: 'NO_TOKEN', findings: [], token: 'unchecked' },
  { fixture: 'human-reply', action: 'REPLY_FORWARDED_TO_ORGANIZER', by: { '2.5': 'NO_ORGANIZER_ADDRESS', '5.1': 'UNKNOWN_FAILURE' }, findings: ['reply.no-calendar'], token: 'known' },
  { fixture: 'winmail-reply', action: 'REPLY_FORWARDED_TO_ORGANIZER', by: { '2.5': 'NO_ORGANIZER_ADDRESS', '5.1': 'UNKNOWN_FAILURE' }, findings: ['reply.tnef', 'reply.no-calendar'], token: 'known' },
  { fixture: 'dsn-with-invitation', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'dsn-without-original', action: 'INCOMPLETE_DSN', findings: [], token: 'unchecked' },
  { fixture: 'broken-mime', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'token-uppercase', action: 'UNKNOWN_TOKEN', findings: [], token: 'unknown' },
  // Last: on 5.1+ a calendar that fails to parse ends the IMAP cycle (`inbound.py` `cbGotMessage`).
  { fixture: 'unparsable-calendar', action: 'UNKNOWN_FAILURE', findings: ['reply.invalid-icalendar'], token: 'known' },
];


/**
 * Start a stack with these users only. Port offsets: the shared stack takes 20000–23900,
 * test/mailstack 24000–27900, test/clients/pop3 30000 and up; each poll test file gets its own 7
 * slots of 28000–30000 (the highest port, 2525 + offset, stays below the ephemeral range).
 */
export async function startOwnStack(users: Array<{ address: string; password: string }>, base: number, slots = 7): Promise<StackInfo> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const offset = await freePortOffset(base, (process.pid + attempt * 3) % slots, slots);
      return await startStack({ dir: mkdtempSync('/tmp/ims.'), portOffset: offset, users });
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

export interface PlistOptions {
  version: string;
  protocol: 'imap' | 'pop3';
  /** implicit: IMAPS/POP3S with UseSSL true; starttls: the plain port with UseSSL false. */
  tls?: 'implicit' | 'starttls';
  user: { address: string; password: string };
  /** Top-level or dotted changes, applied in order. */
  changes?: Array<[string, unknown]>;
}

export function writePollPlist(stack: StackInfo, o: PlistOptions): string {
  const implicit = (o.tls ?? 'implicit') === 'implicit';
  const port = o.protocol === 'imap' ? (implicit ? stack.ports.imaps : stack.ports.imap) : implicit ? stack.ports.pop3s : stack.ports.pop3;
  let cfg: Obj = baseConfig(o.version);
  const r = 'Scheduling.iMIP.Receiving';
  for (const [k, v] of [
    [`${r}.Server`, stack.host],
    [`${r}.Port`, port],
    [`${r}.UseSSL`, implicit],
    [`${r}.Type`, o.protocol === 'imap' ? 'imap' : 'pop'],
    [`${r}.Username`, o.user.address],
    [`${r}.Password`, o.user.password],
    ...(o.changes ?? []),
  ] as Array<[string, unknown]>) {
    cfg = withChange(cfg, k, v);
  }
  return writePlist(tempDir('imip-poll-'), 'caldavd.plist', cfg);
}

/** The fixtures' tokens as `send-test` records them (src/state/tokens.ts), in a fresh state dir. */
export function tokenStateDir(): string {
  const dir = tempDir('imip-state-');
  const lines = Object.entries(TOKENS).map(([token, r]) => JSON.stringify({ token, ...r, sentAt: '2026-03-01T09:00:00Z' }));
  writeFileSync(join(dir, 'sent-tokens.jsonl'), `${lines.join('\n')}\n`, { mode: 0o600 });
  return dir;
}

export interface CoreOptions {
  version?: string;
  stateDir?: string;
  caFile: string;
  apply?: boolean;
  injectUrl?: string;
  timeoutSec?: number;
  now?: Date;
  signal?: AbortSignal;
  leaseMs?: number;
  /** Read the server's token store as `poll` does: from the config, or this `--token-store` value. */
  serverStore?: { override?: string };
  /** POP3 --apply: --single-poller. */
  singlePoller?: boolean;
  /** Read-only: the cycle's hooks, as `poll` gives them. */
  hooks?: CycleHooks;
}

/** What `imip poll --once [--apply]` computes, without printing: the PollReport. */
export async function pollCore(config: string, o: CoreOptions): Promise<PollReport> {
  const { ctx } = await loadForCommand({ config, ...(o.version ? { serverVersion: o.version } : {}) });
  const conn = connectOptions({ caFile: o.caFile, timeout: String(o.timeoutSec ?? 10) });
  const store = o.serverStore
    ? await (async () => {
        const t = await loadTokenLookup({ effective: ctx.config.effective, version: ctx.version, override: o.serverStore!.override, timeoutMs: conn.timeoutMs, stateDir: o.stateDir ?? tempDir('imip-state-') });
        return { lookup: t.lookup, row: t.row, info: t.summary };
      })()
    : { ...loadTokenStore(o.stateDir), row: undefined };
  const cycle: CycleContext = {
    settings: ctx.settings,
    version: ctx.version,
    protocol: ctx.settings.receiving.protocol!,
    connect: conn,
    now: o.now ?? new Date(),
    lookupToken: store.lookup,
    ...(store.row ? { tokenRow: store.row } : {}),
    tokenStore: store.info,
    deleteAllMail: deleteAllMailFor(ctx.settings, ctx.version),
  };
  if (!o.apply) return runReadOnlyCycle(cycle, o.hooks);
  return runApply(cycle, {
    target: injectionTarget(ctx.settings, ctx.version, o.injectUrl),
    stateDir: o.stateDir ?? tempDir('imip-state-'),
    inject: { timeoutMs: conn.timeoutMs, insecure: false },
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.singlePoller ? { singlePoller: true } : {}),
  });
}

/** A TCP proxy in front of a mailbox port; `cut()` drops every connection through it at once. */
export class CutProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** Bytes sent from the server to the client so far. */
  downstream = 0;
  /** Cut automatically once this many bytes went to the client. */
  cutAfterBytes = Infinity;
  /** When each client connection was accepted (performance.now()). */
  readonly accepted: number[] = [];
  /** The server's answers on the first connection only reach the client this much later (a slow link). */
  firstConnectionDelayMs = 0;
  private readonly clients = new Set<net.Socket>();


  constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      this.accepted.push(performance.now());
      const delay = this.accepted.length === 1 ? this.firstConnectionDelayMs : 0;
      this.clients.add(client);
      const upstream = net.connect(target.port, target.host);
      this.sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        const pass = (): void => {
          if (client.destroyed) return;
          this.downstream += d.length;
          client.write(d);
          if (this.downstream >= this.cutAfterBytes) this.cut();
        };
        if (delay) setTimeout(pass, delay);
        else pass();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Client connections still open. */
  get open(): number {
    return [...this.clients].filter((s) => !s.destroyed).length;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** RFC 5322 reply built on the fly (for bulk seeding). */
export function smallReply(i: number, token: string, uid: string): string {
  return [
    `Message-ID: <bulk-${i}@remote.test>`,
    'Date: Mon, 2 Mar 2026 10:00:00 +0000',
    'From: Attendee Person <attendee@remote.test>',
    `To: calendar+${token}@example.test`,
    `Subject: Accepted: bulk ${i}`,
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
    '',
    'BEGIN:VCALENDAR',
    'PRODID:-//Example//Bulk//EN',
    'VERSION:2.0',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `ORGANIZER:mailto:calendar+${token}@example.test`,
    'ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test',
    `UID:${uid}`,
    'DTSTAMP:20260302T100000Z',
    'DTSTART:20260305T100000Z',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}
