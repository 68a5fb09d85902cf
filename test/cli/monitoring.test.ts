/**
 * `--format nagios` and `--format prometheus` on every command, run as a monitoring system runs
 * them, against the real Postfix and Dovecot of the test stack (read-only: nothing here changes a
 * mailbox). Each output is checked against its specification (test/helpers/monitoring.ts).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getStack } from '../helpers/stack.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { writeStackConfig } from '../helpers/stack-config.js';
import { checkNagios, checkPrometheus, sample } from '../helpers/monitoring.js';
import { knownLabel } from '../../src/report/nagios.js';

function stackConfig(): string {
  const personal = getStack().users.find((u) => u.local === 'personal')!;
  // A mailbox no other test writes to: the poll reads it read-only.
  return writeStackConfig({ receiving: { Username: personal.address, Password: personal.password }, prefix: 'imip-mon-' });
}

const COMMANDS: { name: string; args: (cfg: string) => string[]; stage?: [string, string] }[] = [
  { name: 'check-config', args: (cfg) => ['check-config', '--config', cfg, '--connect'], stage: ['smtp', 'starttls'] },
  { name: 'test-smtp', args: (cfg) => ['test-smtp', '--config', cfg], stage: ['smtp', 'auth'] },
  { name: 'test-mailbox', args: (cfg) => ['test-mailbox', '--config', cfg], stage: ['imap', 'login'] },
  { name: 'send-test', args: (cfg) => ['send-test', '--config', cfg, '--to', 'alice@example.test', '--state-dir', tempDir('imip-mon-state-')], stage: ['smtp', 'send'] },
  { name: 'poll', args: (cfg) => ['poll', '--once', '--config', cfg, '--state-dir', tempDir('imip-mon-state-')], stage: ['poll', 'cycle'] },
  { name: 'diagnose', args: (cfg) => ['diagnose', '--config', cfg, '--state-dir', tempDir('imip-mon-state-')] },
];

describe.each(COMMANDS)('$name', ({ name, args, stage }) => {
  it('--format nagios: one status line per the plugin guidelines, exit 0-3', async () => {
    const s = getStack();
    const r = await runCli([...args(stackConfig()), '--ca-file', s.ca, '--format', 'nagios']);
    const n = checkNagios(r.stdout, r.code);
    expect(n.state).not.toBe('UNKNOWN');
    expect(n.text.startsWith(`${name}: `)).toBe(true);
    expect(n.perf.get('time')).toMatch(/^\d+(\.\d+)?s;;;0$/);
    if (stage) expect(n.perf.get(`${stage[0]}_${stage[1]}`)).toMatch(/^\d+(\.\d+)?s;;;0$/);
    // Every label a run gives can be given a threshold (unknown labels are refused).
    expect([...n.perf.keys()].filter((l) => !knownLabel(l))).toEqual([]);
  });

  it('--format prometheus: parses and lints; imip_up agrees with the exit code', async () => {
    const s = getStack();
    const r = await runCli([...args(stackConfig()), '--ca-file', s.ca, '--format', 'prometheus']);
    expect([0, 1]).toContain(r.code);
    const f = checkPrometheus(r.stdout);
    expect(sample(f, 'imip_up', { command: name })).toBe(r.code === 0 ? 1 : 0);
    expect(sample(f, 'imip_run_duration_seconds', { command: name })).toBeGreaterThan(0);
    expect(sample(f, 'imip_findings', { command: name, severity: 'error' })).toBeGreaterThanOrEqual(0);
    if (stage) expect(sample(f, 'imip_stage_duration_seconds', { command: name, probe: stage[0], stage: stage[1] })).toBeGreaterThanOrEqual(0);
    if (name === 'poll') expect(f.find((x) => x.name === 'imip_poll_messages') ?? sample(f, 'imip_up')).toBeDefined();
  });
});

describe('monitoring flags', () => {
  it('a critical threshold turns OK into CRITICAL; bad thresholds and bad flags are UNKNOWN (exit 3)', async () => {
    const s = getStack();
    const cfg = stackConfig();
    const crit = await runCli(['test-smtp', '--config', cfg, '--ca-file', s.ca, '--format', 'nagios', '--critical', 'time=@0:3600']);
    expect(checkNagios(crit.stdout, crit.code).state).toBe('CRITICAL');
    expect(crit.stdout).toMatch(/time=[\d.]+s;;@0:3600;0/);
    const bad = await runCli(['test-smtp', '--config', cfg, '--format', 'nagios', '--warning', 'time=abc']);
    expect(checkNagios(bad.stdout, bad.code).state).toBe('UNKNOWN');
    // A label no run gives (a typo) would never alert: UNKNOWN, naming the labels there are.
    const typo = await runCli(['test-smtp', '--config', cfg, '--format', 'nagios', '--critical', 'smtp_starttls=1,nosuchlabel=5']);
    expect(checkNagios(typo.stdout, typo.code)).toMatchObject({ state: 'UNKNOWN' });
    expect(typo.stdout).toMatch(/--critical: "nosuchlabel" is no perfdata label imip gives; the labels are time, errors, warnings/);
    const unknownFlag = await runCli(['test-smtp', '--config', cfg, '--format', 'nagios', '--no-such-flag']);
    expect(checkNagios(unknownFlag.stdout, unknownFlag.code).state).toBe('UNKNOWN');
    // Prometheus: imip_up 0 for a flag that does not parse, as for any run that could not be made,
    // on stdout or in --output (the last success kept), not a file left saying the last run passed.
    const promFlag = await runCli(['test-smtp', '--config', cfg, '--format', 'prometheus', '--no-such-flag']);
    expect(promFlag.code).toBe(2);
    expect(promFlag.stderr).toMatch(/^imip: unknown option '--no-such-flag'/);
    expect(sample(checkPrometheus(promFlag.stdout), 'imip_up', { command: 'test-smtp' })).toBe(0);
    const promFile = join(tempDir(), 'imip.prom');
    writeFileSync(promFile, 'imip_up{command="poll"} 1\nimip_last_success_timestamp_seconds{command="poll"} 1765000000\n');
    const promOut = await runCli(['poll', '--once', '--config', cfg, '--format=prometheus', `--output=${promFile}`, '--no-such-flag']);
    expect(promOut.code).toBe(2);
    expect(promOut.stdout).toBe('');
    const written = checkPrometheus(readFileSync(promFile, 'utf8'));
    expect(sample(written, 'imip_up', { command: 'poll' })).toBe(0);
    expect(sample(written, 'imip_last_success_timestamp_seconds', { command: 'poll' })).toBe(1765000000);
    const noConfig = await runCli(['poll', '--once', '--config', join(tempDir(), 'missing.plist'), '--format', 'nagios']);
    expect(checkNagios(noConfig.stdout, noConfig.code).text).toMatch(/could not run/);
    const orphan = await runCli(['test-smtp', '--config', cfg, '--output', 'x.prom']);
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toMatch(/--output writes the --format prometheus text/);
  });

  it('--output FILE: written whole through a temporary file; a failed run keeps the last success time', async () => {
    const s = getStack();
    const dir = tempDir('imip-mon-out-');
    const file = join(dir, 'imip_smtp.prom');
    const ok = await runCli(['test-smtp', '--config', stackConfig(), '--ca-file', s.ca, '--format', 'prometheus', '--output', file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('');
    const first = checkPrometheus(readFileSync(file, 'utf8'));
    const stamp = sample(first, 'imip_last_success_timestamp_seconds', { command: 'test-smtp' });
    expect(stamp).toBeGreaterThan(Date.now() / 1000 - 120);
    // Now the SMTP port refuses: imip_up 0, the old stamp stays.
    const cfgBad = stackConfig().replace(/$/, '');
    const text = readFileSync(cfgBad, 'utf8').replace(`<integer>${s.ports.smtp}</integer>`, '<integer>1</integer>');
    writeFileSync(cfgBad, text);
    const failed = await runCli(['test-smtp', '--config', cfgBad, '--ca-file', s.ca, '--format', 'prometheus', '--output', file, '--timeout', '3']);
    expect(failed.code).toBe(1);
    const second = checkPrometheus(readFileSync(file, 'utf8'));
    expect(sample(second, 'imip_up', { command: 'test-smtp' })).toBe(0);
    expect(sample(second, 'imip_last_success_timestamp_seconds', { command: 'test-smtp' })).toBe(stamp);
    expect(readdirSync(dir)).toEqual(['imip_smtp.prom']);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });
});
