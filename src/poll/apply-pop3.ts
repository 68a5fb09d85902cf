/**
 * `--apply` over POP3. POP3 has no per-message claim: exclusivity is the maildrop lock of
 * RFC 1939 §8 ("the POP3 server SHOULD lock the maildrop" while a session is in the TRANSACTION
 * state), which servers may leave off (Dovecot does unless `pop3_lock_session = yes`). Without it
 * two hosts polling one mailbox inject every message twice, so `--apply` first tells: a second
 * login while this session is open is refused (`-ERR [IN-USE]`) or held if the server locks. If
 * it does not, the run refuses (exit 2) unless the admin states with `--single-poller` that only
 * this host polls. Runs on this host are kept apart by the state directory's lock file.
 *
 * Steps, each journal line (keyed by UIDL) written before the step it announces: `posting` →
 * POST → `injected` → DELE → … → QUIT (the server deletes the marked messages now, RFC 1939 §6)
 * → `deleted`. A cut connection or a kill before QUIT deletes nothing; the next run DELEs what
 * the journal says was `injected` without POSTing again, and POSTs again what it says was
 * `posting` (a SIGKILL during a POST: the server may then have it twice).
 */
import { randomBytes } from 'node:crypto';
import { Pop3Reader, isInUse, pop3ClientOptions, pop3ErrorText } from '../mailbox/pop3-reader.js';
import { Pop3Client, isPop3Error } from '../clients/pop3/index.js';
import { CannotRunError } from '../report/exit.js';
import { openReader } from './connect.js';
import { buildReport, readCycle, type CycleContext, type PollMessage, type PollReport } from './cycle.js';
import { displayUrl } from './inject.js';
import { MAX_BODY_BYTES } from '../imip/mime-decode.js';
import { Journal } from './journal.js';
import { takeRunLock } from './lock.js';
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

export async function applyPop3(ctx: CycleContext, opts: ApplyOptions, status: ApplyStatus): Promise<PollReport> {
  const started = Date.now();
  const key = mailboxKey(ctx);
  const run = randomBytes(6).toString('hex');
  const unlock = takeRunLock(opts.stateDir, key, 'POP3');
  let reader: Pop3Reader;
  try {
    try {
      reader = (await openReader(ctx, false)) as Pop3Reader;
    } catch (err) {
      throw err instanceof CannotRunError ? err : new CannotRunError(pop3ErrorText(err));
    }
    // Does the server lock the maildrop (RFC 1939 §8)? A second login tells: -ERR [IN-USE] if so.
    const serverLocks = await probeServerLock(ctx);
    if (serverLocks !== true && !opts.singlePoller) {
      reader.destroy();
      throw new CannotRunError(
        (serverLocks === false
          ? 'the POP3 server does not lock the maildrop (a second login got in while this session was open; Dovecot: pop3_lock_session = no), '
          : 'could not tell whether the POP3 server locks the maildrop, ') +
          'so a run on another host could read and inject the same messages at the same time; nothing was changed. ' +
          'Turn the lock on (Dovecot: pop3_lock_session = yes), or, if this is the only host that polls this mailbox, say so with --single-poller.',
      );
    }
    const journal = new Journal(opts.stateDir, key, run);
    const notes = baseNotes(opts, journal);
    notes.push(
      serverLocks === true
        ? 'The POP3 server locks the maildrop while this session is open (a second login was held or got -ERR [IN-USE]): no other session can read it meanwhile.'
        : `The POP3 server does not lock the maildrop${serverLocks === null ? ' (or it could not be told)' : ''}; --single-poller states that only this host polls it. Runs on this host are kept apart by a lock file in the state directory.`,
    );
    const jobs: Job[] = [];
    let keptBig = 0;
    const earlier: Array<{ row: PollMessage; number: number; id: string }> = [];
    const r = reader;
    status.phase = 'reading';
    const read = await readCycle(ctx, r, {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      onClassified: (m, row, verdict) => {
        const id = m.ref.uidl ? `uidl ${m.ref.uidl}` : `number ${m.ref.number}`;
        const j = m.ref.uidl ? journal.state(id) : undefined;
        if (j?.state === 'injected') {
          earlier.push({ row, number: m.ref.number!, id });
          return;
        }
        // Organizer and attendee for the token: the one place --apply asks (ctx.lookupToken).
        const record = verdict.token ? ctx.lookupToken(verdict.token) : undefined;
        const why = notInjectable(row, verdict, record) ?? (m.ref.uidl ? null : 'the server has no UIDL, so a cut session could not be recovered safely');
        if (why) {
          outcome(row, { status: 'skipped', reason: why, deleted: false });
          return;
        }
        // Kept until injected; a big calendar past HELD_CALENDAR_BYTES of them is retrieved again then.
        let body = m.input.bodies.get(verdict.calendarPart!);
        let reread = false;
        if (body && body.length > MAX_BODY_BYTES) {
          if (keptBig + body.length > HELD_CALENDAR_BYTES) {
            body = undefined;
            reread = true;
          } else keptBig += body.length;
        }
        jobs.push({
          row,
          id,
          record: record!,
          isDsn: verdict.isDsn,
          calendarPart: verdict.calendarPart!,
          number: m.ref.number!,
          ...(body ? { calendar: body } : {}),
          ...(reread ? { reread } : {}),
          ...(j?.state === 'posting' ? { reposting: true } : {}),
        });
      },
    });
    status.total = jobs.length;
    let failure = read.error;
    const marked: Job[] = [];
    try {
      if (!failure) {
        for (const e of earlier) {
          await r.dele(e.number);
          outcome(e.row, { status: 'deleted-earlier-injection', deleted: false, reason: 'an earlier run injected it and was cut off before QUIT' });
        }
        let endpointDown: string | null = null;
        status.phase = 'injecting';
        for (const job of jobs) {
          const stop = notStarted(opts, endpointDown);
          if (stop) {
            outcome(job.row, { status: 'skipped', reason: stop, deleted: false });
            continue;
          }
          status.started++;
          // Before the journal says "posting": a session cut here has posted nothing.
          const calendar = job.calendar ?? (job.reread ? ((await r.reread(job.number!, job.calendarPart)) ?? undefined) : undefined);
          journal.record(job.id, 'posting', job.row.messageId);
          status.inFlight = job.row.messageId ?? `message ${job.number}`;
          checkpoint('pop3:posting');
          const res = await injectJob(job, calendar, ctx, opts);
          status.inFlight = null;
          checkpoint('pop3:posted');
          job.calendar = undefined;
          const { ok, ...o } = res;
          outcome(job.row, job.reposting ? { ...o, reason: 'an earlier run was cut off while POSTing it, so it was POSTed again (the server may now have it twice)' } : o);
          if (ok) {
            journal.record(job.id, 'injected', job.row.messageId);
            status.injected++;
            checkpoint('pop3:injected');
            await r.dele(job.number!);
            marked.push(job);
            checkpoint('pop3:dele');
          } else {
            journal.record(job.id, 'released', job.row.messageId);
            endpointDown = stopsInjecting(o);
          }
        }
        // QUIT: the UPDATE state deletes the marked messages (RFC 1939 §6).
        status.phase = 'deleting';
        await r.commit();
        checkpoint('pop3:quit');
        for (const j of marked) {
          journal.record(j.id, 'deleted', j.row.messageId);
          j.row.apply!.deleted = true;
          status.deleted++;
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
    status.phase = 'done';
    if (failure) r.destroy();
    for (const j of jobs) {
      if (!j.row.apply) outcome(j.row, { status: 'skipped', reason: 'not reached before the session ended', deleted: false });
      else if (j.row.apply.status === 'injected' && !j.row.apply.deleted) {
        j.row.apply = { ...j.row.apply, status: 'injected-not-deleted', reason: 'injected; QUIT did not complete, so the next run deletes it without injecting it again' };
      }
    }
    for (const e of earlier) if (!e.row.apply) outcome(e.row, { status: 'injected-not-deleted', deleted: false, reason: 'injected by an earlier run; to be deleted' });
    const report = buildReport(ctx, r.info, { ...read, ...(failure ? { error: failure } : {}) }, started);
    const stopped = interruptedNote(opts, status);
    if (stopped) notes.push(stopped);
    report.apply = {
      url: displayUrl(opts.target.url),
      auth: opts.target.auth,
      journal: journal.file,
      serverLocksMaildrop: serverLocks,
      singlePoller: Boolean(opts.singlePoller),
      exclusive: serverLocks === true ? 'the POP3 server\'s maildrop lock, and a lock file in the state directory' : 'one host polls (--single-poller), and a lock file in the state directory',
      ...(opts.signal?.aborted ? { interrupted: String(opts.signal.reason ?? 'interrupted') } : {}),
      notes,
    };
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
  let client: Pop3Client;
  try {
    client = await Pop3Client.connect({ ...pop3ClientOptions(r, ctx.connect), timeoutMs: Math.min(ctx.connect.timeoutMs, 2000) });
  } catch {
    return null;
  }
  try {
    await client.login(r.username, r.password);
    // QUIT without DELE (and nothing retrieved): the probe changes nothing.
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
