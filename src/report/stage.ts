/** One named stage of a connection test (resolve, connect, greeting, TLS, login, …), as every probe reports it. */
export interface StageResult {
  stage: string;
  ok: boolean;
  /** Milliseconds the stage took. */
  ms: number;
  /** What was seen: extensions, certificate details, counts. Never a password. */
  evidence: Record<string, unknown>;
  /** What went wrong, in one sentence, when not ok. */
  error?: string;
  /** What to do about it. */
  hint?: string;
  /** Stage not attempted because an earlier one failed. */
  skipped?: boolean;
}
