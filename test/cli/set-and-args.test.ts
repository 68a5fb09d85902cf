/**
 * Trying a fix without editing the plist (`--set KEY=VALUE`), the config as a positional argument,
 * `send-test --dry-run` showing the calendar decoded, and output that says each thing once
 * (issue "output an admin can trust": problems 5, 8 and 10).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli, jsonOf } from '../helpers/cli.js';
import { getStack } from '../helpers/stack.js';
import { parseOverrides } from '../../src/config/overrides.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

describe('--set KEY=VALUE', () => {
  it('overrides the effective value for this run, named in the output and the evidence', async () => {
    const plain = await runCli(['check-config', EXAMPLE, '--no-color']);
    expect(plain.stdout).toMatch(/sending\.implicit-tls-port/);
    const r = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Port=587', '--no-color']);
    expect(r.stdout).toMatch(/^Overrides for this run only \(--set\): Sending\.Port=587 \(instead of 465\)$/m);
    expect(r.stdout).not.toMatch(/sending\.implicit-tls-port/);
    const j = JSON.parse((await runCli(['check-config', EXAMPLE, '--set', 'Scheduling.iMIP.Sending.Port=2525', '--json'])).stdout);
    expect(j.overrides).toEqual([{ key: 'Scheduling.iMIP.Sending.Port', value: 2525, was: 465 }]);
    expect(j.settings.Sending.Port).toBe(2525);
    const q = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Port=587', '-q', '--no-color']);
    expect(q.stdout).toMatch(/with --set Sending\.Port/);
  });

  it('says so when the config already gives the value (never for a password)', async () => {
    const r = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Port=465', '--set', 'Receiving.Type=imap', '--set', 'Sending.UseSSL=false', '--no-color']);
    expect(r.stdout).toMatch(/^Overrides for this run only \(--set\): Sending\.Port=465 \(the config gives the same\), Receiving\.Type="imap" \(the config gives the same\), Sending\.UseSSL=false \(instead of true\)$/m);
  });

  it('evidence that cites an overridden value says source=--set', async () => {
    const r = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Port=465', '--set', 'Sending.UseSSL=false', '--json']);
    const f = jsonOf(r).findings.find((x: { path: string }) => x.path === 'Scheduling.iMIP.Sending.Port');
    expect(f.evidence.source).toBe('--set');
  });

  it('type checks and unknown keys: exit 2, one line, a "did you mean"', async () => {
    const bad = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Port=five']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('imip: --set Sending.Port: "five" is not an integer (the key is an <integer>)\n');
    const typo = await runCli(['test-smtp', EXAMPLE, '--set', 'Sending.Prot=587']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/did you mean Sending\.Port\?/);
    expect((await runCli(['diagnose', EXAMPLE, '--offline', '--set', 'Sending=1'])).code).toBe(2);
    expect((await runCli(['poll', EXAMPLE, '--set', 'Receiving.UseSSL=maybe'])).code).toBe(2);
  });

  it('parses each type as the plist holds it, and never shows a password', () => {
    const o = parseOverrides(['Receiving.UseSSL=yes', 'Sending.UseSSL=0', 'AddressPatterns=["^mailto:.*@example\\\\.com$"]', 'ServerHostName=cal.example.com', 'Receiving.Password=hunter2']);
    expect(o.map((x) => [x.path, x.value])).toEqual([
      ['Scheduling.iMIP.Receiving.UseSSL', true],
      ['Scheduling.iMIP.Sending.UseSSL', false],
      ['Scheduling.iMIP.AddressPatterns', ['^mailto:.*@example\\.com$']],
      ['ServerHostName', 'cal.example.com'],
      ['Scheduling.iMIP.Receiving.Password', 'hunter2'],
    ]);
    expect(() => parseOverrides(['Sending.Port=1', 'Scheduling.iMIP.Sending.Port=2'])).toThrow(/given twice/);
  });

  it('a password given with --set appears nowhere in the output', async () => {
    const r = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Password=Very-Secret-991', '--verbose', '--no-color']);
    const j = await runCli(['check-config', EXAMPLE, '--set', 'Sending.Password=Very-Secret-991', '--json']);
    expect(`${r.stdout}${r.stderr}${j.stdout}`).not.toContain('Very-Secret-991');
    expect(r.stdout).toMatch(/Sending\.Password=\(set\) \(instead of the config's\)/);
  });
});

describe('the config as a positional argument', () => {
  it('works like --config on every command; two different configs are exit 2', async () => {
    const a = await runCli(['check-config', EXAMPLE, '--json']);
    const b = await runCli(['check-config', '--config', EXAMPLE, '--json']);
    expect(a.code).toBe(1);
    expect(jsonOf(a).findings).toEqual(jsonOf(b).findings);
    const both = await runCli(['check-config', EXAMPLE, '--config', '/etc/other.plist']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/two configs given/);
    const extra = await runCli(['check-config', EXAMPLE, 'another.plist']);
    expect(extra.code).toBe(2);
  });
});

describe('send-test --dry-run and --save', () => {
  it('--dry-run prints the calendar decoded and marked as decoded; --save keeps the exact base64 bytes', async () => {
    const r = await runCli(['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run', '--no-color']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[text\/calendar part decoded from base64 for reading; the message carries it in base64, --save writes the exact bytes\]\nBEGIN:VCALENDAR\n/);
    expect(r.stdout).toMatch(/METHOD:REQUEST\n/);
    expect(r.stdout).toMatch(/\[end of decoded text\/calendar part\]/);
    expect(r.stdout).not.toMatch(/^QkVHSU46VkNBTEVOREFS/m); // "BEGIN:VCALENDAR" in base64
    const dir = mkdtempSync(join(tmpdir(), 'imip-save-'));
    const s = await runCli(['send-test', EXAMPLE, '--to', 'someone@example.org', '--save', join(dir, 'invite.eml')]);
    expect(s.code).toBe(0);
    const saved = readFileSync(join(dir, 'invite.eml'), 'utf8');
    expect(saved).toMatch(/\r\nQkVHSU46VkNBTEVOREFS/);
    expect(saved).not.toContain('decoded');
    const j = JSON.parse((await runCli(['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run', '--json'])).stdout);
    expect(j.raw).toMatch(/\r\nQkVHSU46VkNBTEVOREFS/);
  });
});

describe('say each thing once', () => {
  it('an untrusted certificate: the cause at most twice, no JSON blob, the chain only with --verbose', async () => {
    const stack = getStack();
    const args = ['test-smtp', EXAMPLE, '--set', 'Sending.Server=127.0.0.1', '--set', `Sending.Port=${stack.ports.smtp}`, '--no-color'];
    const r = await runCli(args);
    expect(r.code).toBe(1);
    const said = r.stdout.split('the certificate is self-signed').length - 1;
    expect(said).toBeGreaterThan(0);
    expect(said).toBeLessThanOrEqual(2);
    expect(r.stdout).not.toMatch(/[{[]"/);
    for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThan(400);
    expect(r.stdout).toMatch(/evidence: .*\(\d long values?: --verbose\)/);
    const v = await runCli([...args, '--verbose']);
    expect(v.stdout.length).toBeGreaterThan(r.stdout.length);
  });

  it('--insecure is said before the results it concerns', async () => {
    const stack = getStack();
    const r = await runCli(['test-smtp', EXAMPLE, '--set', 'Sending.Server=127.0.0.1', '--set', `Sending.Port=${stack.ports.smtp}`, '--insecure', '--no-color']);
    const notice = r.stdout.indexOf('Certificate checks were turned off (--insecure)');
    const firstStage = r.stdout.search(/^✓ resolve/m);
    expect(notice).toBeGreaterThan(0);
    expect(firstStage).toBeGreaterThan(notice);
    expect(r.stdout.split('Certificate checks were turned off').length - 1).toBe(1);
  });
});
