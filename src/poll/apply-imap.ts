/**
 * `--apply` over IMAP: claim, inject, delete, one message at a time, so that of any number of
 * runs (one host or several, each with its own state directory) exactly one injects a message,
 * and a run killed at any point leaves nothing that the next run of its state directory cannot
 * finish.
 *
 * The claim. Each state directory has a poller id (src/poll/lock.ts); a claim is the keyword
 * `$ImipClaimed` plus `$ImipClaimedBy-<poller id>`, stored with a conditional STORE (RFC 7162
 * `UNCHANGEDSINCE` the MODSEQ just read) and then READ BACK: a message that carries another
 * poller's keyword as well is given up (our keyword taken off), because a conditional STORE alone
 * let two sessions win on Dovecot (src/mailbox/imap-claim.ts). Of two claimers the later one
 * always sees the earlier one's keyword, so at most one goes on; if both see each other both give
 * up and the next run takes the message.
 *
 * The order of steps, each journal line written before the step it announces
 * (src/poll/journal.ts): `claiming` → STORE → read back → `claimed` → `posting` → POST →
 * `injected` → `\Deleted` + `UID EXPUNGE` → `deleted`. A failed POST takes both keywords off
 * (`released`). What the next run (same state directory) does with what a crash left:
 *  - our keyword on a message, journal `injected`: delete it, do not POST again;
 *  - our keyword, journal `posting`: POST again (the server may have it: a SIGKILL during a POST
 *    is one of the two cases where a reply can reach the server twice);
 *  - our keyword, journal `claiming`/`claimed` or no line at all: ours, never POSTed: inject it;
 *  - another poller's keyword: left alone, with the command that frees it if that poller is gone;
 *  - `$ImipClaimed` without any poller's keyword (a claim of an earlier version of this tool, or
 *    two claimers that both gave up): not a claim; claimed again.
 * Runs of one state directory are kept apart by a lock file: they would share the poller id.
 */
import { randomBytes } from 'node:crypto';
import type { Verdict } from '../imip/classify.js';
import { ImapReader, CLAIM_KEYWORD } from '../mailbox/imap-reader.js';
import { readFlags, storeKeywords } from '../mailbox/imap-claim.js';
import { CannotRunError } from '../report/exit.js';
import { openReader } from './connect.js';
import { buildReport, readCycle, type CycleContext, type CycleRead, type PollMessage, type PollReport, type ReadMessage } from './cycle.js';
import { displayUrl } from './inject.js';
import { partByNumber } from '../imip/mime-part.js';
import { Journal } from './journal.js';
import { pollerId, takeRunLock } from './lock.js';
import { checkpoint } from './fault.js';
import {
  baseNotes,
  HELD_CALENDAR_BYTES,
  injectJob,
  interruptedNote,
  mailboxKey,
  notInjectable,
  notStarted,
  outcome,
  stopsInjecting,
  type ApplyOptions,
  type ApplyStatus,
  type Job,
} from './apply-jobs.js';

/** Prefix of the per-poller claim keyword. */
export const OWNER_PREFIX = '$ImipClaimedBy-';

export function ownerKeyword(id: string): string {
  return `${OWNER_PREFIX}${id}`;
}

function owners(flags: readonly string[]): string[] {
  return flags.filter((f) => f.toLowerCase().startsWith(OWNER_PREFIX.toLowerCase()));
}

function freeCommand(user: string, uid: number, keywords: string[]): string {
  return `doveadm flags remove -u ${user} '${[CLAIM_KEYWORD, ...keywords].join(' ')}' mailbox INBOX uid ${uid}`;
}

type ClaimOutcome = { ok: true } | { ok: false; status: 'gone' | 'claimed-elsewhere'; reason: string };

export async function applyImap(ctx: CycleContext, opts: ApplyOptions, status: ApplyStatus): Promise<PollReport> {
  const started = Date.now();
  const key = mailboxKey(ctx);
  const run = randomBytes(6).toString('hex');
  const unlock = takeRunLock(opts.stateDir, key, 'IMAP');
  try {
    const own = ownerKeyword(pollerId(opts.stateDir));
    const reader = (await openReader(ctx, false)) as ImapReader;
    if (!reader.condstore) {
      await reader.close();
      throw new CannotRunError(
        'the IMAP server has no CONDSTORE (RFC 7162), which --apply needs to claim each message atomically so that two runs cannot both inject it; nothing was changed',
      );
    }
    const journal = new Journal(opts.stateDir, `${key};${reader.uidValidity}`, run);
    const notes = baseNotes(opts, journal);
    const user = ctx.settings.receiving.username;
    const jobs: Job[] = [];
    const keepAside: Array<{ row: PollMessage; uid: number }> = [];
    let read: CycleRead | undefined;
    let failure: string | undefined;
    status.phase = 'reading';

    /** Claim one message (or find it already ours); `fresh` is what was read just now. */
    const claim = async (job: Job, fresh: { flags: string[]; modseq?: string }): Promise<ClaimOutcome> => {
      const uid = job.uid!;
      let flags = fresh.flags;
      let modseq = fresh.modseq;
      for (let attempt = 0; attempt < 2; attempt++) {
        const others = owners(flags).filter((k) => k !== own);
        if (others.length) {
          return {
            ok: false,
            status: 'claimed-elsewhere',
            reason: `claimed by another poller (${others.join(' ')}); if that poller is gone for good, free it with: ${freeCommand(user, uid, others)}`,
          };
        }
        if (flags.includes(own)) return { ok: true }; // left by a run of this state directory that was cut off
        journal.record(job.id, 'claiming', job.row.messageId);
        checkpoint('imap:claiming');
        const res = await storeKeywords(reader.client, uid, '+', [CLAIM_KEYWORD, own], modseq ?? '0');
        if (res.result === 'won') return { ok: true };
        journal.record(job.id, 'released', job.row.messageId);
        if (res.result === 'gone') return { ok: false, status: 'gone', reason: 'no longer in the mailbox' };
        // Changed since it was read (a claim by another poller, or any flag change): look again.
        const now = await readFlags(reader.client, uid);
        if (!now) return { ok: false, status: 'gone', reason: 'no longer in the mailbox' };
        flags = now.flags;
        modseq = now.modseq;
      }
      return { ok: false, status: 'claimed-elsewhere', reason: 'it kept changing while it was being claimed; the next run tries again' };
    };

    /** Read the claim back: another poller's keyword beside ours means both stored: give it up. */
    const confirm = async (job: Job): Promise<ClaimOutcome> => {
      const uid = job.uid!;
      checkpoint('imap:claimed');
      const now = await readFlags(reader.client, uid);
      if (!now) return { ok: false, status: 'gone', reason: 'no longer in the mailbox' };
      const others = owners(now.flags).filter((k) => k !== own);
      if (!now.flags.includes(own) || others.length) {
        if (now.flags.includes(own)) await storeKeywords(reader.client, uid, '-', [own]);
        journal.record(job.id, 'released', job.row.messageId);
        return { ok: false, status: 'claimed-elsewhere', reason: `another poller claimed it at the same moment (${others.join(' ') || 'its claim replaced ours'}); given up to it` };
      }
      journal.record(job.id, 'claimed', job.row.messageId);
      return { ok: true };
    };

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
          // Organizer and attendee for the token: the one place --apply asks (ctx.lookupToken).
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
            ...(m.whole ? { whole: true } : {}),
            ...(j?.state === 'posting' ? { reposting: true } : {}),
          });
        },
      });
      jobs.sort((a, b) => a.uid! - b.uid!);
      status.total = jobs.length;
      if (read.error) failure = read.error;

      // An earlier run injected these but could not delete them: delete now, do not inject again.
      if (!failure && keepAside.length) {
        status.phase = 'deleting';
        await reader.remove(keepAside.map((k) => k.uid));
        for (const k of keepAside) {
          journal.record(`uid ${k.uid}`, 'deleted', k.row.messageId);
          outcome(k.row, { status: 'deleted-earlier-injection', deleted: true, reason: 'an earlier run injected it and was cut off before deleting it' });
        }
      }

      const window = opts.window ?? 50;
      let endpointDown: string | null = null;
      // Each job's calendar size as sent, for the windows' byte bound.
      const sizes = jobs.map((j) => (j.root ? (partByNumber(j.root, j.calendarPart)?.size ?? 0) : 0));
      for (let i = 0; i < jobs.length && !failure; ) {
        const slice = jobs.slice(i, (i = applySliceEnd(sizes, i, window)));
        if (notStarted(opts, endpointDown)) {
          for (const j of slice) outcome(j.row, { status: 'skipped', reason: notStarted(opts, endpointDown)!, deleted: false });
          continue;
        }
        status.phase = 'injecting';
        const fresh = await reader.fetchForApply(slice.map((j) => ({ uid: j.uid!, parts: [j.calendarPart], root: j.root!, ...(j.whole ? { whole: true } : {}) })));
        const injected: Job[] = [];
        for (const job of slice) {
          const stop = notStarted(opts, endpointDown);
          if (stop) {
            outcome(job.row, { status: 'skipped', reason: stop, deleted: false });
            continue;
          }
          status.started++;
          const now = fresh.get(job.uid!);
          if (!now) {
            outcome(job.row, { status: 'gone', deleted: false, reason: 'no longer in the mailbox' });
            continue;
          }
          const claimed = await claim(job, now);
          const confirmed = claimed.ok ? await confirm(job) : claimed;
          if (!confirmed.ok) {
            outcome(job.row, { status: confirmed.status, deleted: false, reason: confirmed.reason });
            continue;
          }
          journal.record(job.id, 'posting', job.row.messageId);
          status.inFlight = job.row.messageId ?? `UID ${job.uid}`;
          checkpoint('imap:posting');
          const res = await injectJob(job, now.bodies.get(job.calendarPart), ctx, opts);
          status.inFlight = null;
          checkpoint('imap:posted');
          const { ok, ...o } = res;
          outcome(job.row, job.reposting ? { ...o, reason: 'an earlier run was cut off while POSTing it, so it was POSTed again (the server may now have it twice)' } : o);
          if (ok) {
            journal.record(job.id, 'injected', job.row.messageId);
            status.injected++;
            injected.push(job);
            checkpoint('imap:injected');
          } else {
            await storeKeywords(reader.client, job.uid!, '-', [CLAIM_KEYWORD, own]);
            journal.record(job.id, 'released', job.row.messageId);
            endpointDown = stopsInjecting(o);
          }
        }
        if (injected.length) {
          status.phase = 'deleting';
          await reader.remove(injected.map((j) => j.uid!));
          checkpoint('imap:expunged');
          for (const j of injected) {
            journal.record(j.id, 'deleted', j.row.messageId);
            j.row.apply!.deleted = true;
            status.deleted++;
          }
        }
      }
    } catch (err) {
      failure = `the IMAP session ended early: ${(err as Error).message ?? String(err)}`;
    } finally {
      status.phase = 'done';
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
    const stopped = interruptedNote(opts, status);
    if (stopped) notes.push(stopped);
    report.apply = {
      url: displayUrl(opts.target.url),
      auth: opts.target.auth,
      journal: journal.file,
      claimKeyword: CLAIM_KEYWORD,
      ownerKeyword: own,
      exclusive: 'per-message claim: CONDSTORE UNCHANGEDSINCE store of $ImipClaimed and this poller\'s keyword, read back',
      ...(opts.signal?.aborted ? { interrupted: String(opts.signal.reason ?? 'interrupted') } : {}),
      notes,
    };
    return report;
  } finally {
    unlock();
  }
}

/**
 * Where the window that starts at `start` ends, given each job's calendar size: `window` jobs at
 * most, fewer when their calendars together would pass HELD_CALENDAR_BYTES (the calendars of a
 * window are held until it is injected). One job at least.
 */
export function applySliceEnd(sizes: readonly number[], start: number, window: number): number {
  let end = start + 1;
  let bytes = sizes[start]!;
  while (end < sizes.length && end - start < window && bytes + sizes[end]! <= HELD_CALENDAR_BYTES) bytes += sizes[end++]!;
  return end;
}
