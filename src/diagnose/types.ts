/**
 * The doctor's shared vocabulary: its areas, the finding shape it reports, and the record of each
 * input it read. Every module of `diagnose` imports these from here, so none imports another for
 * a type (no cycles).
 */
import type { Finding } from '../report/finding.js';

/** The doctor's areas, in the order they are printed. */
export const AREAS = ['config', 'sending', 'receiving', 'plus', 'replies', 'injection'] as const;
export type AreaId = (typeof AREAS)[number];

export const AREA_TITLES: Record<AreaId, string> = {
  config: 'Config',
  sending: 'Sending',
  receiving: 'Receiving',
  plus: 'Plus addressing',
  replies: 'Replies',
  injection: 'Injection',
};

/** A finding as diagnose reports it: the shared shape plus the area it belongs to. */
export interface DiagnoseFinding extends Finding {
  area: AreaId;
  /** Where the finding comes from: `config`, `message`, `mailbox`, `log`, `directory`, `probe`, `input`. */
  source: string;
}

export interface InputRecord {
  kind: 'config' | 'message' | 'log' | 'directory' | 'mailbox';
  path: string;
  /** `given` on the command line, `config` named by the config, `default` the release's default. */
  how: 'given' | 'config' | 'default';
  /** `not-used`: given, but the judged release has no use for it (a directory file on 3.0 and later). */
  status: 'read' | 'partial' | 'error' | 'not-found' | 'not-used';
  error?: string;
  /** One line: what was in it. */
  detail?: string;
}
