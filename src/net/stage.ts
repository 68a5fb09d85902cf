/**
 * The stage runner the SMTP, IMAP and POP3 probes share: named stages, each with its own time
 * limit, failures turned into one sentence and a hint, secrets redacted from everything recorded.
 */
import type { StageResult } from '../config/settings.js';
import { startDeadline, type Deadline } from '../clients/deadline.js';
import { StageError, toStageError, type FailureKind } from './errors.js';

/** What a stage function gets. */
export interface StageScope {
  /** Fill in what was seen; copied into the stage result (after redaction). */
  readonly evidence: Record<string, unknown>;
  /** Aborted when the stage runs out of time, with the StageError that ends it as the reason. */
  readonly signal: AbortSignal;
  /** `Date.now()` value at which the stage gives up. */
  readonly deadline: number;
  /** Milliseconds left before the stage gives up. */
  remaining(): number;
  /**
   * Marks the moment the stage's event happened, when it is observed in a callback that runs
   * before this stage's own continuation (so unrelated synchronous work is not timed).
   */
  markDone(): void;
  /**
   * The server answered: the limit starts again from now. A stage of several round trips calls it
   * on each answer, so its limit bounds each step (the silence of the server), not their sum.
   */
  progress(): void;
}

export interface StageOptions {
  /** Overrides the runner's per-stage limit. */
  timeoutMs?: number;
  /** What running out of time means at this stage. */
  onTimeout?: (ms: number) => StageError;
}

/** The failing stage, as probes need it to write their findings. */
export interface StageFailure {
  stage: string;
  kind: FailureKind;
  error: string;
  hint?: string;
  evidence: Record<string, unknown>;
}

/** A run of base64 long enough to hold a secret of 4 bytes or more beside something else. */
const BASE64_RUN = /[A-Za-z0-9+/]{8,}={0,2}/g;

/**
 * Removes secrets from everything that leaves a probe. Passwords are never put into evidence on
 * purpose; this is the second line of defence for server and library texts that echo input.
 */
export class Redactor {
  static readonly MASK = '<redacted>';
  private readonly needles: string[];
  /** The secrets as bytes, looked for inside base64 runs of the text. */
  private readonly raw: Buffer[];

  constructor(secrets: ReadonlyArray<string | null | undefined>) {
    const set = new Set<string>();
    const raw: Buffer[] = [];
    for (const s of secrets) {
      // Very short secrets would mask ordinary text; they are never written anywhere anyway.
      if (!s || s.length < 4) continue;
      raw.push(Buffer.from(s, 'utf8'));
      set.add(s);
      set.add(Buffer.from(s, 'utf8').toString('base64').replace(/=+$/, ''));
      const enc = encodeURIComponent(s);
      if (enc !== s) set.add(enc);
      const json = JSON.stringify(s).slice(1, -1);
      if (json !== s) set.add(json);
    }
    // Longest first, so a secret that contains another is masked whole.
    this.needles = [...set].filter((n) => n.length >= 4).sort((a, b) => b.length - a.length);
    this.raw = raw;
  }

  text(s: string): string {
    let out = s;
    for (const n of this.needles) if (out.includes(n)) out = out.split(n).join(Redactor.MASK);
    // A server that echoes what it was sent can send back the password inside a longer base64
    // blob: SASL PLAIN ("\0user\0password"), HTTP Basic ("user:password"). The password's own
    // base64 is not a substring of such a blob, so every base64 run is decoded and masked whole
    // when it holds a secret.
    if (this.raw.length && out.length >= 8) {
      out = out.replace(BASE64_RUN, (run) => (this.holdsSecret(run) ? Redactor.MASK : run));
    }
    return out;
  }

  /**
   * Whether a base64 run holds a secret, decoded from each of its first four characters: the run
   * may begin with characters that belong to the text before the blob (a path, a word), which
   * would shift the decoding of the blob itself.
   */
  private holdsSecret(run: string): boolean {
    for (let offset = 0; offset < 4 && run.length - offset >= 8; offset++) {
      const bytes = Buffer.from(offset ? run.slice(offset) : run, 'base64');
      if (this.raw.some((r) => bytes.includes(r))) return true;
    }
    return false;
  }

  /** A deep copy with every string scrubbed. */
  deep<T>(value: T): T {
    return this.walk(value, 0) as T;
  }

  private walk(v: unknown, depth: number): unknown {
    if (typeof v === 'string') return this.text(v);
    if (v === null || typeof v !== 'object' || depth > 12) return v;
    if (Array.isArray(v)) return v.map((x) => this.walk(x, depth + 1));
    if (v instanceof Date) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[this.text(k)] = this.walk(x, depth + 1);
    return out;
  }
}

/**
 * Runs named stages in order. Each gets its own time limit; the first failure is recorded and
 * every later stage is listed as skipped.
 */
export class StageRunner {
  readonly stages: StageResult[] = [];
  failure: StageFailure | null = null;
  /** The running stage's `progress`, while one runs. */
  private active: (() => void) | null = null;

  constructor(
    readonly timeoutMs: number,
    readonly redactor: Redactor = new Redactor([]),
  ) {}

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Records a stage that could not be attempted because an earlier one failed. */
  skip(stage: string, evidence: Record<string, unknown> = {}): void {
    this.stages.push({ stage, ok: false, ms: 0, evidence: this.redactor.deep(evidence), skipped: true });
  }

  /** Records a stage result computed elsewhere (a step that needs no time of its own). */
  record(result: StageResult, kind?: FailureKind): void {
    const r = this.redactor.deep(result);
    this.stages.push(r);
    if (!r.ok && !r.skipped && !this.failure) {
      this.failure = { stage: r.stage, kind: kind ?? 'internal', error: r.error ?? 'failed', evidence: r.evidence, ...(r.hint ? { hint: r.hint } : {}) };
    }
  }

  /**
   * Runs one stage. Resolves to the stage function's value, or `undefined` when it failed,
   * timed out, or an earlier stage had failed (then it is recorded as skipped).
   */
  async run<T>(stage: string, fn: (scope: StageScope) => Promise<T>, options: StageOptions = {}): Promise<T | undefined> {
    if (this.failure) {
      this.skip(stage);
      return undefined;
    }
    const limit = Math.max(1, options.timeoutMs ?? this.timeoutMs);
    const started = nowMs();
    let deadline = Date.now() + limit;
    const ac = new AbortController();
    const evidence: Record<string, unknown> = {};
    let doneAt: number | null = null;
    let timer: Deadline | undefined;
    let expire: () => void = () => undefined;
    this.active = () => scope.progress();
    const scope: StageScope = {
      evidence,
      signal: ac.signal,
      get deadline() {
        return deadline;
      },
      remaining: () => Math.max(0, deadline - Date.now()),
      markDone: () => {
        doneAt ??= nowMs();
      },
      progress: () => {
        // Only while the stage is still waiting: not after its end or its time-out.
        if (!timer || ac.signal.aborted) return;
        timer.clear();
        deadline = Date.now() + limit;
        timer = startDeadline(limit, expire);
      },
    };
    // An answer that arrived while this process was busy is not a timeout (../clients/deadline.ts).
    const timedOut = new Promise<never>((_, reject) => {
      expire = () => {
        const err =
          options.onTimeout?.(limit) ??
          new StageError('timeout', `no answer within ${limit} ms`, {
            hint: 'A firewall may be dropping the traffic, or the server is overloaded; raise --timeout to wait longer.',
          });
        reject(err);
      };
      timer = startDeadline(limit, expire);
    });
    let work: Promise<T>;
    try {
      work = fn(scope);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.catch(() => undefined);
    try {
      const value = await Promise.race([work, timedOut]);
      const ms = doneAt !== null ? Math.round(doneAt - started) : elapsed(started);
      this.stages.push({ stage, ok: true, ms, evidence: this.redactor.deep(evidence) });
      return value;
    } catch (err) {
      const se = toStageError(err);
      if (!ac.signal.aborted) ac.abort(se);
      const result: StageResult = {
        stage,
        ok: false,
        ms: elapsed(started),
        evidence: this.redactor.deep({ ...evidence, ...se.evidence }),
        error: this.redactor.text(se.message),
      };
      if (se.hint) result.hint = this.redactor.text(se.hint);
      this.stages.push(result);
      this.failure = {
        stage,
        kind: se.kind,
        error: result.error!,
        evidence: result.evidence,
        ...(result.hint ? { hint: result.hint } : {}),
      };
      return undefined;
    } finally {
      timer?.clear();
      timer = undefined;
      this.active = null;
    }
  }

  /** {@link StageScope.progress} of the stage running now, for a wire that serves every stage. */
  progress(): void {
    this.active?.();
  }
}

/**
 * Milliseconds on a monotonic clock. Not `performance.now()`: the global `performance` loads Node's
 * perf_hooks modules on first use, about 1 ms of every connection test's start-up.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function elapsed(started: number): number {
  return Math.round(nowMs() - started);
}

