/**
 * The monitoring formats from a sample: Nagios ranges, thresholds, states and exit codes; the
 * Prometheus text as a parser and promtool read it. The samples are built from documents shaped as
 * the commands' --json documents.
 */
import { describe, expect, it } from 'vitest';
import { sampleFromDoc, cannotRunSample } from '../../src/report/monitoring.js';
import { alerts, parseRange, parseThresholds, renderNagios } from '../../src/report/nagios.js';
import { previousLastSuccess, renderPrometheus } from '../../src/report/prometheus.js';
import { checkNagios, checkPrometheus, sample } from '../helpers/monitoring.js';
import { runCli } from '../helpers/cli.js';
import { config, MSGS, writeConfig } from '../fixtures/diagnose/helpers.js';

const probeDoc = {
  command: 'test-smtp',
  ok: true,
  target: { protocol: 'smtp', host: 'h', port: 587, tls: 'starttls' },
  stages: [
    { stage: 'connect', ok: true, ms: 12, evidence: {} },
    { stage: 'starttls', ok: true, ms: 40, evidence: {} },
    { stage: 'auth', ok: false, ms: 0, evidence: {}, skipped: true },
  ],
  findings: [{ id: 'tls.insecure', severity: 'info', message: 'x', path: '', evidence: {}, fix: '' }],
};

const roundTripDoc = {
  command: 'send-test',
  ok: false,
  sent: { ms: 80 },
  findings: [{ id: 'send-test.no-reply', severity: 'error', message: 'No reply | arrived', path: 'reply', evidence: {}, fix: '' }],
  reply: { outcome: 'no-reply', waitedSeconds: 8 },
  roundTrip: {
    totalSeconds: 9.5,
    legs: [
      { leg: 'sent', ok: true, seconds: 0.1, verdict: 'sent' },
      { leg: 'delivered', ok: true, seconds: 1.2, verdict: 'delivered intact' },
      { leg: 'reply-sent', ok: true, seconds: 0.2, verdict: 'sent as apple' },
      { leg: 'reply-arrived', ok: false, seconds: 8, verdict: 'no-reply' },
      { leg: 'token', ok: null, seconds: null, verdict: 'not reached' },
      { leg: 'server-action', ok: null, seconds: null, verdict: 'not reached' },
    ],
  },
};

const pollDoc = {
  command: 'poll',
  ok: true,
  summary: { messages: 4, byServerAction: { INJECTION_SUBMITTED: 3, NO_TOKEN: 1 } },
  findingsBySeverity: { error: 0, warning: 2, info: 1 },
  stats: { ms: 310 },
};

describe('Nagios ranges (plugin guidelines)', () => {
  const table: [string, number, boolean][] = [
    ['10', 11, true], ['10', 10, false], ['10', -1, true],
    ['10:', 9, true], ['10:', 100, false],
    ['~:10', 11, true], ['~:10', -100, false],
    ['10:20', 15, false], ['10:20', 21, true],
    ['@10:20', 15, true], ['@10:20', 21, false],
  ];
  for (const [range, v, alert] of table) it(`${range} with ${v}: ${alert ? 'alert' : 'no alert'}`, () => expect(alerts(parseRange(range)!, v)).toBe(alert));
  it('bad ranges and labels are refused', () => {
    for (const bad of ['abc', '20:10', '1:2:3', '']) expect(parseRange(bad)).toBeNull();
    expect(() => parseThresholds('--warning', 'time=x')).toThrow(/--warning/);
    expect([...parseThresholds('--warning', '30,leg_reply-arrived=60').keys()]).toEqual(['time', 'leg_reply-arrived']);
    // Labels no run gives are refused (a typo would never alert); every family a run gives is taken.
    for (const typo of ['nosuchlabel=5', 'tme=5', 'leg_reply-arived=5', 'smpt_starttls=1', 'smtp_startls=1', 'imap_ehlo=1', 'poll_cycles=1', 'pop3_stls=1', 'messages_No-Token=1']) expect(() => parseThresholds('--critical', typo), typo).toThrow(/is no perfdata label imip gives/);
    // A stage typo names that group's stages, where the right one is found.
    expect(() => parseThresholds('--warning', 'smtp_startls=1')).toThrow(/"smtp_startls" is no perfdata label imip gives; the smtp stages are resolve, connect, greeting, ehlo, starttls, /);
    expect([...parseThresholds('--critical', 'errors=0,warnings=1,roundtrip=60,leg_delivered=30,imap_login=2,pop3_starttls=1,mailbox_login=1,poll_cycle=5,probe_plus-address=9,messages_no_token=1').keys()]).toHaveLength(10);
  });
});

describe('Nagios output', () => {
  it('OK with stage timings as perfdata; skipped stages left out', () => {
    const r = renderNagios(sampleFromDoc('test-smtp', probeDoc, 0, 0.5), new Map(), new Map());
    const n = checkNagios(`${r.line}\n`, r.exitCode);
    expect(n.state).toBe('OK');
    expect(n.perf.get('smtp_starttls')).toBe('0.04s;;;0');
    expect(n.perf.has('smtp_auth')).toBe(false);
  });
  it('an error finding is CRITICAL (exit 2); the text cannot break the perfdata', () => {
    const r = renderNagios(sampleFromDoc('send-test', roundTripDoc, 1, 9.7), new Map(), new Map());
    const n = checkNagios(`${r.line}\n`, r.exitCode);
    expect(n.state).toBe('CRITICAL');
    expect(n.text).toMatch(/send-test\.no-reply: No reply \/ arrived/);
    expect(n.perf.get('leg_reply-arrived')).toBe('8s;;;0');
    expect(n.perf.get('roundtrip')).toBe('9.5s;;;0');
    expect(n.perf.has('leg_token')).toBe(false);
  });
  it('warning findings are WARNING; thresholds raise the state and appear in the perfdata', () => {
    const warn = renderNagios(sampleFromDoc('poll', pollDoc, 0, 0.4), new Map(), new Map());
    expect(checkNagios(`${warn.line}\n`, warn.exitCode).perf.get('messages_no_token')).toBe('1;;;0');
    expect(warn.exitCode).toBe(1);
    const crit = renderNagios(sampleFromDoc('test-smtp', probeDoc, 0, 0.5), parseThresholds('--warning', '0.1'), parseThresholds('--critical', 'smtp_starttls=0.01'));
    const n = checkNagios(`${crit.line}\n`, crit.exitCode);
    expect(n.state).toBe('CRITICAL');
    expect(n.text).toMatch(/smtp_starttls 0\.04s outside 0\.01/);
    expect(n.perf.get('time')).toBe('0.5s;0.1;;0');
    expect(n.perf.get('smtp_starttls')).toBe('0.04s;;0.01;0');
  });
  it('an @ range alerts inside it, and the status text says "inside", not "outside"', () => {
    const r = renderNagios(sampleFromDoc('test-smtp', probeDoc, 0, 0.5), new Map(), parseThresholds('--critical', 'smtp_starttls=@0:1'));
    const n = checkNagios(`${r.line}\n`, r.exitCode);
    expect(n.state).toBe('CRITICAL');
    expect(n.text).toMatch(/smtp_starttls 0\.04s inside @0:1/);
    expect(n.text).not.toMatch(/outside/);
  });
  it('exit 1 with only warnings: WARNING for tokens, whose exit follows its findings; CRITICAL for a command whose exit says more', () => {
    const doc = { findings: [{ id: 'token-store.duplicate-tokens', severity: 'warning', message: '1 token is held by more than one row', path: '', evidence: {}, fix: '' }] };
    const tokens = renderNagios(sampleFromDoc('tokens', { command: 'tokens', ...doc }, 1, 0.1), new Map(), new Map());
    expect(checkNagios(`${tokens.line}\n`, tokens.exitCode)).toMatchObject({ state: 'WARNING', text: 'tokens: token-store.duplicate-tokens: 1 token is held by more than one row' });
    const poll = renderNagios(sampleFromDoc('poll', { command: 'poll', ...doc }, 1, 0.1), new Map(), new Map());
    expect(checkNagios(`${poll.line}\n`, poll.exitCode).state).toBe('CRITICAL');
  });
  it('diagnose, whose exit is 1 exactly when a finding is an error or a warning: warnings only are WARNING, an error CRITICAL', async () => {
    const warningsOnly = { command: 'diagnose', findings: [{ id: 'token.absent', severity: 'warning', message: 'No trace of a token anywhere', path: 'message', evidence: {}, fix: '' }] };
    const w = renderNagios(sampleFromDoc('diagnose', warningsOnly, 1, 0.1), new Map(), new Map());
    expect(checkNagios(`${w.line}\n`, w.exitCode)).toMatchObject({ state: 'WARNING', text: 'diagnose: token.absent: No trace of a token anywhere' });
    // Exit 2 (an input named on the command line could not be read) is never lowered to WARNING.
    const cannot = renderNagios(sampleFromDoc('diagnose', warningsOnly, 2, 0.1), new Map(), new Map());
    expect(checkNagios(`${cannot.line}\n`, cannot.exitCode).state).toBe('CRITICAL');
    // As run: a clean config, offline, and a mail with no trace of a token (token.absent, a warning).
    const cfg = writeConfig(config('9.2', { 'Scheduling.iMIP.Receiving.Server': 'imap.example.test', 'Scheduling.iMIP.Receiving.Port': 993 }));
    const r = await runCli(['diagnose', '--config', cfg, '--offline', '--message', `${MSGS}/no-trace.eml`, '--format', 'nagios']);
    expect(r.stdout).toMatch(/^IMIP WARNING - diagnose: token\.absent: /);
    expect(r.stdout).toMatch(/ errors=0;;;0 warnings=1;;;0\n$/);
    expect(r.code).toBe(1);
  });
  it('a poll that failed without an error finding names why: a failed injection, a reply left uninjected, messages not injected', () => {
    const applied = (status: string, reason: string, counts: Record<string, number>) => ({
      ...pollDoc,
      findingsBySeverity: { error: 0, warning: 0, info: 0 },
      summary: { messages: 1, byServerAction: { INJECTION_SUBMITTED: 1 }, injected: 0, deleted: 0, failed: 0, notInjected: 0, ...counts },
      messages: [{ serverAction: 'INJECTION_SUBMITTED', findings: [], apply: { status, deleted: false, reason } }],
    });
    const line = (doc: object): string => {
      const r = renderNagios(sampleFromDoc('poll', doc, 1, 0.4), new Map(), new Map());
      const n = checkNagios(`${r.line}\n`, r.exitCode);
      expect(n.state).toBe('CRITICAL');
      expect(n.perf.get('errors')).toBe('0;;;0');
      expect(n.text).not.toMatch(/the check failed/);
      return n.text;
    };
    expect(line(applied('failed', 'Mail gateway failed to inject message <a@b> (Reason: ECONNREFUSED)', { failed: 1 }))).toBe(
      'poll: 1 injection failed (kept in the mailbox): Mail gateway failed to inject message <a@b> (Reason: ECONNREFUSED)',
    );
    expect(line(applied('skipped', 'the server did not answer', { notInjected: 1 }))).toBe('poll: 1 not injected (still in the mailbox): the server did not answer');
    // The reason is that of a reply left uninjected, not of a message the server never injects, read before it.
    const tokenless = { serverAction: 'NO_TOKEN', findings: [], apply: { status: 'skipped', deleted: false, reason: 'the server does not inject it (NO_TOKEN); --apply deletes only what it injected, so it stays' } };
    const leftAfter = applied('skipped', 'the server did not answer', { notInjected: 1 });
    expect(line({ ...leftAfter, summary: { ...leftAfter.summary, messages: 2, byServerAction: { INJECTION_SUBMITTED: 1, NO_TOKEN: 1 } }, messages: [tokenless, ...leftAfter.messages] })).toBe(
      'poll: 1 not injected (still in the mailbox): the server did not answer',
    );
    expect(line({ ...pollDoc, findingsBySeverity: { error: 0, warning: 0, info: 0 } })).toBe('poll: 1 message the server does not inject: 1 NO_TOKEN');
    // Messages behind one the server's cycle stops at are not counted as processed: named apart.
    const behind = { messages: 2, behind: { uid: 1 }, everyPoll: true, byServerAction: { INJECTION_SUBMITTED: 2 }, byTokenCause: {} };
    expect(line({ ...pollDoc, findingsBySeverity: { error: 0, warning: 0, info: 0 }, summary: { ...pollDoc.summary, notReached: behind } })).toBe(
      'poll: 1 message the server does not inject: 1 NO_TOKEN; 2 never reached while UID 1 stays',
    );
  });
  it('could not run: UNKNOWN, exit 3', () => {
    const r = renderNagios(cannotRunSample('poll', 'no such file', 2, 0), new Map(), new Map());
    expect(checkNagios(`${r.line}\n`, r.exitCode).state).toBe('UNKNOWN');
  });
});

describe('Prometheus output', () => {
  const now = new Date('2026-12-04T02:00:00Z');
  it('a failed round trip: imip_up 0, legs, findings per severity; parses and lints', () => {
    const text = renderPrometheus(sampleFromDoc('send-test', roundTripDoc, 1, 9.7), { now });
    const f = checkPrometheus(text);
    expect(sample(f, 'imip_up', { command: 'send-test' })).toBe(0);
    expect(sample(f, 'imip_roundtrip_leg_duration_seconds', { leg: 'delivered' })).toBe(1.2);
    expect(sample(f, 'imip_roundtrip_leg_success', { leg: 'reply-arrived' })).toBe(0);
    expect(sample(f, 'imip_roundtrip_leg_success', { leg: 'token' })).toBe(0);
    expect(sample(f, 'imip_findings', { command: 'send-test', severity: 'error' })).toBe(1);
    expect(sample(f, 'imip_last_success_timestamp_seconds')).toBeUndefined();
  });
  it('every sample is labelled with the command, the round trip and its legs too', () => {
    for (const [command, doc] of [['send-test', roundTripDoc], ['poll', pollDoc]] as const) {
      const f = checkPrometheus(renderPrometheus(sampleFromDoc(command, doc, 0, 1), { now }));
      for (const family of f) for (const m of family.metrics) expect(m.labels?.command, `${family.name} ${JSON.stringify(m.labels)}`).toBe(command);
    }
    const f = checkPrometheus(renderPrometheus(sampleFromDoc('send-test', roundTripDoc, 1, 9.7), { now }));
    expect(sample(f, 'imip_roundtrip_duration_seconds', { command: 'send-test' })).toBe(9.5);
    expect(sample(f, 'imip_roundtrip_leg_duration_seconds', { command: 'send-test', leg: 'reply-arrived' })).toBe(8);
  });
  it('poll: messages per action; a success stamps the time, a failure carries the previous stamp over', () => {
    const ok = renderPrometheus(sampleFromDoc('poll', pollDoc, 0, 0.4), { now });
    const f = checkPrometheus(ok);
    expect(sample(f, 'imip_poll_messages', { action: 'INJECTION_SUBMITTED' })).toBe(3);
    expect(sample(f, 'imip_stage_duration_seconds', { probe: 'poll', stage: 'cycle' })).toBe(0.31);
    expect(sample(f, 'imip_last_success_timestamp_seconds', { command: 'poll' })).toBe(now.getTime() / 1000);
    expect(previousLastSuccess(ok, 'poll')).toBe(now.getTime() / 1000);
    const failed = renderPrometheus(sampleFromDoc('poll', { ...pollDoc, error: 'cut' }, 2, 0.4), { now: new Date(now.getTime() + 60_000), previous: ok });
    expect(sample(checkPrometheus(failed), 'imip_last_success_timestamp_seconds', { command: 'poll' })).toBe(now.getTime() / 1000);
  });
});
