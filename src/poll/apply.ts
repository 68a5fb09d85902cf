/**
 * `poll --once --apply` on a 2.x–4.x server: do the mail gateway's work for one cycle
 * (calendarserver-imip.md §4.2/§4.3 read, §4.4 classify, §5.1/§5.2 inject) with one rule the
 * gateway does not have: **a message is deleted only after its injection succeeded**. Everything
 * else stays in the mailbox for the next run (the gateway itself would delete every message it read).
 *
 * Exactly once, even with two runs at once and whatever happens mid-cycle:
 *
 * IMAP — every injectable message is *claimed* before it is injected, with a compare-and-set of the
 * keyword `$ImipClaimed` (`UID STORE <uid> (UNCHANGEDSINCE <modseq>) +FLAGS ($ImipClaimed)`,
 * RFC 7162 CONDSTORE): of several sessions storing against the same MODSEQ exactly one succeeds,
 * the others get `[MODIFIED]`; a message already carrying the keyword is left to its holder.
 * Then: inject → journal "injected" → `\Deleted` + `UID EXPUNGE` (UIDPLUS). A failed injection
 * takes the claim off again, so the next run retries.
 *
 * POP3 — the maildrop lock of RFC 1939 (§8: the server "SHOULD" lock) keeps a second session
 * out while one is open; Dovecot does so only with `pop3_lock_session = yes` and then answers
 * `-ERR [IN-USE]`. Because that is optional, runs on this host also take a lock file in the state
 * directory, and the report says whether the server itself locks. DELE marks become deletions only
 * at QUIT, so a cut connection deletes nothing.
 *
 * Recovery, in both: the journal `<state dir>/poll-journal.jsonl` records claims, injections and
 * deletions (one appended line each). The next run
 *  - deletes, without injecting again, a message the journal says was injected but is still there
 *    (cut after the POST, before the delete);
 *  - takes over an IMAP claim whose run is gone (its process no longer exists on this host, or the
 *    claim is older than the lease), with the same compare-and-set;
 *  - leaves alone a claim it knows nothing about (another host's run) and says how to clear it:
 *    `doveadm flags remove -u <user> '$ImipClaimed' mailbox INBOX keyword '$ImipClaimed'`, or
 *    `UID STORE <uid> -FLAGS ($ImipClaimed)` from any IMAP client, once no other run is active.
 * An injection that timed out may still have reached the server; the message is kept and the
 * next run injects it again (a repeated iTIP REPLY only restates the same PARTSTAT).
 */
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Verdict } from '../imip/classify.js';
import type { MimePart } from '../imip/mime-part.js';
import { ImapReader, CLAIM_KEYWORD } from '../mailbox/imap-reader.js';
import { Pop3Reader, isInUse, pop3ClientOptions, pop3ErrorText } from '../mailbox/pop3-reader.js';
import { Pop3Client, isPop3Error } from '../clients/pop3/index.js';
import { CannotRunError } from '../report/exit.js';
import type { TokenRecord } from '../imip/classify-types.js';
import {
  buildReport,
  openReader,
  readCycle,
  type ApplyOutcome,
  type CycleContext,
  type CycleRead,
  type OnProgress,
  type PollMessage,
  type PollReport,
  type ReadMessage,
} from './cycle.js';
import { displayUrl, injectCalendar, rewriteDsn, rewriteReply, type InjectOptions, type InjectionTarget } from './inject.js';

export interface ApplyOptions {
  target: InjectionTarget;
  stateDir: string;
  inject: InjectOptions;
  /** Ctrl-C: finish the message in hand, release claims, stop. */
  signal?: AbortSignal;
  onProgress?: OnProgress;
  /** A claim older than this is stale (default: max(10 min, 4 × timeout)). */
  leaseMs?: number;
  /** IMAP: messages per claim/inject/delete window. */
  window?: number;
}

// ---- the journal ----------------------------------------------------------------------------------

export const JOURNAL_FILE = 'poll-journal.jsonl';
const COMPACT_AT = 2 * 1024 * 1024;

export type JournalState = 'claimed' | 'injected' | 'deleted' | 'released';

export interface JournalEntry {
  at: string;
  mailbox: string;
  id: string;
  state: JournalState;
  run: string;
  pid: number;
  host: string;
  messageId?: string | null;
}

/** Runs active in this process (a claim by one of them is not stale, whatever its age). */
const activeRuns = new Set<string>();

export class Journal {
  private readonly path: string;
  private readonly last = new Map<string, JournalEntry>();

  constructor(
    dir: string,
    private readonly mailbox: string,
    readonly run: string,
  ) {
    this.path = join(dir, JOURNAL_FILE);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CannotRunError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (e.mailbox === mailbox && typeof e.id === 'string') this.last.set(e.id, e);
      } catch {
        // a torn line from a crash: skip it
      }
    }
    if (text.length > COMPACT_AT) this.compact(text);
  }

  get file(): string {
    return this.path;
  }

  state(id: string): JournalEntry | undefined {
    return this.last.get(id);
  }

  record(id: string, state: JournalState, messageId?: string | null): void {
    const entry: JournalEntry = { at: new Date().toISOString(), mailbox: this.mailbox, id, state, run: this.run, pid: process.pid, host: hostname(), messageId: messageId ?? null };
    // One O_APPEND write per line: concurrent runs cannot interleave inside a line.
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    this.last.set(id, entry);
  }

  /** Whether a claim recorded here belongs to a run that can no longer act on it. */
  isStale(entry: JournalEntry, leaseMs: number): boolean {
    if (entry.run === this.run) return false;
    if (Date.now() - Date.parse(entry.at) > leaseMs) return true;
    if (entry.host !== hostname()) return false;
    if (entry.pid === process.pid) return !activeRuns.has(entry.run);
    return !processAlive(entry.pid);
  }

  /** Drop finished histories (deleted/released) once the file is large; skipped while another run compacts. */
  private compact(text: string): void {
    const lock = `${this.path}.compact-lock`;
    let fd: number;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch {
      return;
    }
    try {
      const lastAll = new Map<string, string>();
      for (const line of text.split('\n')) {
        try {
          const e = JSON.parse(line) as JournalEntry;
          lastAll.set(`${e.mailbox}\u0000${e.id}`, line);
        } catch {
          // skip
        }
      }
      const keep = [...lastAll.values()].filter((l) => {
        const s = (JSON.parse(l) as JournalEntry).state;
        return s === 'claimed' || s === 'injected';
      });
      // Lines appended since we read the file are kept as they are.
      const now = readFileSync(this.path, 'utf8');
      const tail = now.slice(text.length);
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, keep.map((l) => `${l}\n`).join('') + tail, { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch {
      // compaction is an optimisation only
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A per-mailbox lock file for POP3 (the server's maildrop lock is optional). */
function takeLock(dir: string, mailbox: string): () => void {
  const name = `poll-${Buffer.from(mailbox).toString('base64url').slice(0, 120)}.lock`;
  const path = join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CannotRunError(`cannot create ${path}: ${(e as Error).message}`);
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; host?: string };
      } catch {
        // empty or torn: a crash between create and write; treat as stale after a moment
        if (Date.now() - statSync(path).mtimeMs < 5000) holder = { pid: -1, host: hostname() };
      }
      const stale = holder.host === hostname() && holder.pid !== undefined && holder.pid > 0 && holder.pid !== process.pid && !processAlive(holder.pid);
      if (!stale && attempt === 0 && holder.pid === undefined) {
        rmSync(path, { force: true });
        continue;
      }
      if (!stale) {
        throw new CannotRunError(
          `another "imip poll --apply" (pid ${holder.pid ?? '?'} on ${holder.host ?? '?'}) is processing this POP3 mailbox; ` +
            `two runs must not both inject a message. Wait for it to finish (or remove ${path} if that process is gone).`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new CannotRunError(`cannot take the lock ${path}`);
}

// ---- jobs -----------------------------------------------------------------------------------------

interface Job {
  row: PollMessage;
  id: string;
  record: TokenRecord;
  isDsn: boolean;
  calendarPart: string;
  /** IMAP. */
  uid?: number;
  root?: MimePart;
  modseq?: string;
  claimedFlag?: boolean;
  /** POP3: the decoded calendar, kept from the read. */
  calendar?: Buffer;
  number?: number;
}

function outcome(row: PollMessage, o: ApplyOutcome): void {
  row.apply = o;
}

function notInjectable(row: PollMessage, verdict: Verdict, record: TokenRecord | null | undefined): string | null {
  if (!row.thisCycle) return 'an earlier message ends the server\'s cycle';
  if (verdict.serverAction !== 'INJECTION_SUBMITTED') {
    return `the server does not inject it (${verdict.serverAction}); --apply deletes only what it injected, so it stays`;
  }
  if (!record) {
    return verdict.tokenStatus === 'unchecked'
      ? "its token is not in this tool's token store (no send-test record), so the organizer and attendee the server would use are unknown"
      : 'its token is unknown';
  }
  if (!verdict.calendarPart && verdict.calendarPart !== '') return 'no calendar part';
  // A calendar cut at the parser's size cap (or not fetched) must not be injected half.
  if (verdict.problems.some((p) => /size cap|not supplied/.test(p))) return 'its calendar could not be read whole, so it is not injected';
  return null;
}

function calendarText(bytes: Buffer): string {
  return bytes.toString('utf8');
}

/** Rewrite and POST one calendar; never throws. */
async function injectJob(job: Job, body: Buffer | undefined, ctx: CycleContext, opts: ApplyOptions): Promise<ApplyOutcome & { ok: boolean }> {
  if (!body) return { ok: false, status: 'failed', deleted: false, reason: 'the calendar part could not be read again' };
  let text: string;
  try {
    const party = { organizer: job.record.organizer, attendee: job.record.attendee };
    text = job.isDsn ? rewriteDsn(calendarText(body), party) : rewriteReply(calendarText(body), party, ctx.version);
  } catch (err) {
    return { ok: false, status: 'failed', deleted: false, reason: `the calendar does not parse: ${(err as Error).message}` };
  }
  const res = await injectCalendar(opts.target, { organizer: job.record.organizer, attendee: job.record.attendee }, text, {
    ...opts.inject,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (res.ok) return { ok: true, status: 'injected', httpStatus: res.status, deleted: false };
  return {
    ok: false,
    status: 'failed',
    httpStatus: res.status,
    deleted: false,
    reason: `Mail gateway failed to inject message ${job.row.messageId ?? ''} (Reason: ${res.reason ?? 'unknown'})`.replace('message  (', 'message ('),
    ...(res.uncertain ? { uncertain: true } : {}),
  };
}

/** The mailbox's identity in the journal: not the port (an admin may switch 993 → 143). */
/**
 * After a failure that is not about one message — no answer at all (refused, timed out, cut) or
 * 401/403 (the credentials or the principal) — the rest would fail alike: stop injecting and
 * leave them for the next run, rather than wait out a timeout per message.
 */
function stopsInjecting(o: ApplyOutcome): string | null {
  if (o.httpStatus === null || o.httpStatus === undefined) return 'not tried: the injection endpoint did not answer the previous message; the next run retries';
  if (o.httpStatus === 401 || o.httpStatus === 403) return `not tried: the injection endpoint refused the previous message (${o.httpStatus}); fix the credentials, the next run retries`;
  return null;
}

function mailboxKey(ctx: CycleContext): string {
  const r = ctx.settings.receiving;
  return `${ctx.protocol}://${r.username}@${r.server.trim().toLowerCase()}/INBOX`;
}

// ---- the run ----------------------------------------------------------------------------------------

export async function runApply(ctx: CycleContext, opts: ApplyOptions): Promise<PollReport> {
  if (ctx.version.line === '5.0+') throw new CannotRunError('--apply is for 2.x–4.x: 5.0 and later inject replies in-process, with no /inbox/ to POST to');
  const run = randomBytes(6).toString('hex');
  activeRuns.add(run);
  try {
    return ctx.protocol === 'imap' ? await applyImap(ctx, opts, run) : await applyPop3(ctx, opts, run);
  } finally {
    activeRuns.delete(run);
  }
}

function baseNotes(opts: ApplyOptions, journal: Journal): string[] {
  return [
    `Replies are POSTed to ${displayUrl(opts.target.url)} (${opts.target.derivedFrom}) with ${opts.target.auth === 'digest-user' ? `Digest/Basic as ${opts.target.username ?? '(no Username)'}` : `the ${opts.target.header} header`}.`,
    'Only messages whose injection succeeded are deleted; the rest stay for the next run.',
    `Journal: ${journal.file}`,
  ];
}

async function applyImap(ctx: CycleContext, opts: ApplyOptions, run: string): Promise<PollReport> {
  const started = Date.now();
  const leaseMs = opts.leaseMs ?? Math.max(10 * 60_000, opts.inject.timeoutMs * 4);
  const reader = (await openReader(ctx, false)) as ImapReader;
  const journal = new Journal(opts.stateDir, `${mailboxKey(ctx)};${reader.uidValidity}`, run);
  const notes = baseNotes(opts, journal);
  if (!reader.condstore) {
    await reader.close();
    throw new CannotRunError(
      'the IMAP server has no CONDSTORE (RFC 7162), which --apply needs to claim each message atomically so that two runs cannot both inject it; nothing was changed',
    );
  }
  const jobs: Job[] = [];
  const keepAside: Array<{ row: PollMessage; uid: number }> = [];
  let read: CycleRead;
  let failure: string | undefined;
  try {
    read = await readCycle(ctx, reader, {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      onClassified: (m: ReadMessage, row: PollMessage, verdict: Verdict) => {
        const uid = m.ref.uid!;
        const id = `uid ${uid}`;
        const j = journal.state(id);
        if (j?.state === 'injected') {
          keepAside.push({ row, uid });
          return;
        }
        const record = verdict.token ? ctx.lookupToken(verdict.token) : undefined;
        const why = notInjectable(row, verdict, record);
        if (why) {
          outcome(row, { status: 'skipped', reason: why, deleted: false });
          return;
        }
        jobs.push({
          row,
          id,
          record: record!,
          isDsn: verdict.isDsn,
          calendarPart: verdict.calendarPart!,
          uid,
          root: m.input.root,
          ...(m.modseq !== undefined ? { modseq: m.modseq } : {}),
          claimedFlag: m.claimed ?? false,
        });
      },
    });
    // Read rows come sorted; jobs were pushed in arrival order.
    jobs.sort((a, b) => a.uid! - b.uid!);
    if (read.error) failure = read.error;

    // An earlier run injected these but could not delete them: delete now, do not inject again.
    if (!failure && keepAside.length) {
      await reader.remove(keepAside.map((k) => k.uid));
      for (const k of keepAside) {
        journal.record(`uid ${k.uid}`, 'deleted', k.row.messageId);
        outcome(k.row, { status: 'deleted-earlier-injection', deleted: true, reason: 'an earlier run injected it and was cut off before deleting it' });
      }
    }

    const window = opts.window ?? 50;
    let endpointDown: string | null = null;
    for (let i = 0; i < jobs.length && !failure; i += window) {
      const slice = jobs.slice(i, i + window);
      if (opts.signal?.aborted || endpointDown) {
        for (const j of slice) outcome(j.row, { status: 'skipped', reason: endpointDown ?? 'interrupted before its turn', deleted: false });
        continue;
      }
      const fresh = await reader.fetchForApply(slice.map((j) => ({ uid: j.uid!, parts: [j.calendarPart], root: j.root! })));
      const injected: Job[] = [];
      for (const job of slice) {
        if (opts.signal?.aborted || endpointDown) {
          outcome(job.row, { status: 'skipped', reason: endpointDown ?? 'interrupted before its turn', deleted: false });
          continue;
        }
        const now = fresh.get(job.uid!);
        if (!now) {
          outcome(job.row, { status: 'gone', deleted: false, reason: 'no longer in the mailbox' });
          continue;
        }
        let modseq = now.modseq ?? job.modseq ?? '0';
        if (now.claimed) {
          const j = journal.state(job.id);
          if (!(j?.state === 'claimed' && journal.isStale(j, leaseMs))) {
            outcome(job.row, {
              status: 'claimed-elsewhere',
              deleted: false,
              reason: j
                ? `claimed by run ${j.run} (pid ${j.pid} on ${j.host}) at ${j.at}`
                : `it carries ${CLAIM_KEYWORD} from a run this host has no record of; if no other run is active, remove the keyword (doveadm flags remove -u ${ctx.settings.receiving.username} '${CLAIM_KEYWORD}' mailbox INBOX uid ${job.uid})`,
            });
            continue;
          }
          // Take the stale claim over: only one taker's -FLAGS succeeds against this MODSEQ.
          const off = await reader.casKeyword(job.uid!, '-', modseq);
          if (off.result !== 'won') {
            outcome(job.row, { status: off.result === 'gone' ? 'gone' : 'claimed-elsewhere', deleted: false, reason: 'another run took the stale claim over first' });
            continue;
          }
          modseq = off.modseq ?? modseq;
        }
        const claim = await reader.casKeyword(job.uid!, '+', modseq);
        if (claim.result !== 'won') {
          outcome(job.row, {
            status: claim.result === 'gone' ? 'gone' : 'claimed-elsewhere',
            deleted: false,
            reason: claim.result === 'gone' ? 'no longer in the mailbox' : 'another run claimed it first (UNCHANGEDSINCE failed)',
          });
          continue;
        }
        journal.record(job.id, 'claimed', job.row.messageId);
        const res = await injectJob(job, now.bodies.get(job.calendarPart), ctx, opts);
        const { ok, ...o } = res;
        outcome(job.row, o);
        if (ok) {
          journal.record(job.id, 'injected', job.row.messageId);
          injected.push(job);
        } else {
          await reader.release(job.uid!);
          journal.record(job.id, 'released', job.row.messageId);
          endpointDown = stopsInjecting(o);
        }
      }
      if (injected.length) {
        await reader.remove(injected.map((j) => j.uid!));
        for (const j of injected) {
          journal.record(j.id, 'deleted', j.row.messageId);
          j.row.apply!.deleted = true;
        }
      }
    }
  } catch (err) {
    failure = `the IMAP session ended early: ${(err as Error).message ?? String(err)}`;
  } finally {
    if (failure) reader.destroy();
    else await reader.close();
  }
  for (const j of jobs) {
    if (!j.row.apply) outcome(j.row, { status: 'skipped', reason: failure ? 'not reached before the session ended' : 'not reached', deleted: false });
    else if (j.row.apply.status === 'injected' && !j.row.apply.deleted) {
      j.row.apply = { ...j.row.apply, status: 'injected-not-deleted', reason: 'injected; the delete did not happen, so the next run deletes it without injecting it again' };
    }
  }
  for (const k of keepAside) if (!k.row.apply) outcome(k.row, { status: 'injected-not-deleted', deleted: false, reason: 'injected by an earlier run; to be deleted' });
  const report = buildReport(ctx, reader.info, { ...read!, ...(failure ? { error: failure } : {}) } as CycleRead, started);
  if (opts.signal?.aborted) notes.push('Interrupted: claims on messages not injected were released; the next run finishes the rest.');
  report.apply = { url: displayUrl(opts.target.url), auth: opts.target.auth, journal: journal.file, claimKeyword: CLAIM_KEYWORD, exclusive: 'CONDSTORE UNCHANGEDSINCE claim per message', notes };
  return report;
}

async function applyPop3(ctx: CycleContext, opts: ApplyOptions, run: string): Promise<PollReport> {
  const started = Date.now();
  const key = mailboxKey(ctx);
  const unlock = takeLock(opts.stateDir, key);
  let reader: Pop3Reader | null = null;
  try {
    try {
      reader = (await openReader(ctx, false)) as Pop3Reader;
    } catch (err) {
      throw err instanceof CannotRunError ? err : new CannotRunError(pop3ErrorText(err));
    }
    const journal = new Journal(opts.stateDir, key, run);
    const notes = baseNotes(opts, journal);
    // Does the server lock the maildrop (RFC 1939 §8)? A second login tells: -ERR [IN-USE] if so.
    const serverLocks = await probeServerLock(ctx);
    notes.push(
      serverLocks === true
        ? 'The POP3 server locks the maildrop while this session is open (a second login was held or got -ERR [IN-USE]): no other session can read it meanwhile.'
        : serverLocks === false
          ? 'The POP3 server does NOT lock the maildrop (a second login succeeded; Dovecot: pop3_lock_session = no). Runs on this host are kept apart by a lock file in the state directory, but a run on another host could read the same messages: set pop3_lock_session = yes.'
          : 'Could not tell whether the POP3 server locks the maildrop.',
    );
    const jobs: Job[] = [];
    const earlier: Array<{ row: PollMessage; number: number; id: string }> = [];
    const r = reader;
    const read = await readCycle(ctx, r, {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      onClassified: (m, row, verdict) => {
        const id = m.ref.uidl ? `uidl ${m.ref.uidl}` : `number ${m.ref.number}`;
        if (m.ref.uidl && journal.state(id)?.state === 'injected') {
          earlier.push({ row, number: m.ref.number!, id });
          return;
        }
        const record = verdict.token ? ctx.lookupToken(verdict.token) : undefined;
        const why = notInjectable(row, verdict, record) ?? (m.ref.uidl ? null : 'the server has no UIDL, so a cut session could not be recovered safely');
        if (why) {
          outcome(row, { status: 'skipped', reason: why, deleted: false });
          return;
        }
        const body = m.input.bodies.get(verdict.calendarPart!);
        jobs.push({ row, id, record: record!, isDsn: verdict.isDsn, calendarPart: verdict.calendarPart!, number: m.ref.number!, ...(body ? { calendar: body } : {}) });
      },
    });
    let failure = read.error;
    const marked: Job[] = [];
    try {
      if (!failure) {
        for (const e of earlier) {
          await r.dele(e.number);
          outcome(e.row, { status: 'deleted-earlier-injection', deleted: false, reason: 'an earlier run injected it and was cut off before QUIT' });
        }
        let endpointDown: string | null = null;
        for (const job of jobs) {
          if (opts.signal?.aborted || endpointDown) {
            outcome(job.row, { status: 'skipped', reason: endpointDown ?? 'interrupted before its turn', deleted: false });
            continue;
          }
          journal.record(job.id, 'claimed', job.row.messageId);
          const res = await injectJob(job, job.calendar, ctx, opts);
          job.calendar = undefined;
          const { ok, ...o } = res;
          outcome(job.row, o);
          if (ok) {
            journal.record(job.id, 'injected', job.row.messageId);
            await r.dele(job.number!);
            marked.push(job);
          } else {
            journal.record(job.id, 'released', job.row.messageId);
            endpointDown = stopsInjecting(o);
          }
        }
        // QUIT: the UPDATE state deletes the marked messages (RFC 1939 §6).
        await r.commit();
        for (const j of marked) {
          journal.record(j.id, 'deleted', j.row.messageId);
          j.row.apply!.deleted = true;
        }
        for (const e of earlier) {
          journal.record(e.id, 'deleted', e.row.messageId);
          e.row.apply!.deleted = true;
        }
      }
    } catch (err) {
      failure = `the POP3 session ended early: ${pop3ErrorText(err)}`;
      r.destroy();
    }
    if (failure) r.destroy();
    for (const j of jobs) {
      if (!j.row.apply) outcome(j.row, { status: 'skipped', reason: 'not reached before the session ended', deleted: false });
      else if (j.row.apply.status === 'injected' && !j.row.apply.deleted) {
        j.row.apply = { ...j.row.apply, status: 'injected-not-deleted', reason: 'injected; QUIT did not complete, so the next run deletes it without injecting it again' };
      }
    }
    for (const e of earlier) if (!e.row.apply) outcome(e.row, { status: 'injected-not-deleted', deleted: false, reason: 'injected by an earlier run; to be deleted' });
    const report = buildReport(ctx, r.info, { ...read, ...(failure ? { error: failure } : {}) }, started);
    if (opts.signal?.aborted) notes.push('Interrupted: messages not yet injected were left in the mailbox; the next run finishes the rest.');
    report.apply = { url: displayUrl(opts.target.url), auth: opts.target.auth, journal: journal.file, serverLocksMaildrop: serverLocks, exclusive: 'POP3 maildrop lock and a lock file in the state directory', notes };
    return report;
  } finally {
    unlock();
  }
}

/**
 * Does the server lock the maildrop (RFC 1939 §8)? A second login while this session is open:
 * `-ERR [IN-USE]` (Dovecot with pop3_lock_session = yes answers so after waiting about 10 s), or
 * a login held without an answer, means yes; a second session that gets in means no; null: unknown.
 */
async function probeServerLock(ctx: CycleContext): Promise<boolean | null> {
  const r = ctx.settings.receiving;
  let client: Pop3Client | null = null;
  try {
    client = await Pop3Client.connect({ ...pop3ClientOptions(r, ctx.connect), timeoutMs: Math.min(ctx.connect.timeoutMs, 2000) });
  } catch {
    return null;
  }
  try {
    await client.login(r.username, r.password);
    // The POP3 client's read-only end (RSET, QUIT): the probe changes nothing.
    await client.endReadOnly().catch(() => undefined);
    return false;
  } catch (err) {
    client.close();
    if (isInUse(err)) return true;
    // The login was held without an answer: the server waits for this run's lock to go.
    if (isPop3Error(err) && err.kind === 'timeout' && /PASS|USER|APOP|AUTH/.test(err.command ?? err.message)) return true;
    return null;
  }
}
