/**
 * A reader that closes early (`imip poll --once | head -3`) ends every command quietly: no
 * "Unhandled 'error' event", no EPIPE trace, and the status a shell reports for a writer whose
 * pipe closed (141 = 128 + SIGPIPE). Each command is piped into a reader that has already gone.
 * Output that cannot be written at all (a full disk) is said in one line and exits 2.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { getStack } from '../helpers/stack.js';
import { writePollPlist } from '../poll/helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

/** Run with stdout (and optionally stderr) closed before the program writes anything. */
function closedReader(args: string[], closeStderr = false): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.destroy();
    if (closeStderr) child.stderr.destroy();
    let stderr = '';
    if (!closeStderr) child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const TRACE = /Unhandled|EPIPE|ERR_STREAM|\n\s+at |internal error/;

describe('closed pipes end quietly', () => {
  const stack = getStack();
  const cal = stack.users.find((u) => u.address.startsWith('calendar@'))!;
  const mailbox = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: { address: cal.address, password: cal.password } });
  const commands: Array<[string, string[]]> = [
    ['--help', ['--help']],
    ['check-config', ['check-config', EXAMPLE]],
    ['check-config --json', ['check-config', EXAMPLE, '--json']],
    ['check-config --list-checks', ['check-config', '--list-checks']],
    ['test-smtp', ['test-smtp', EXAMPLE, '--set', 'Sending.Server=127.0.0.1', '--set', `Sending.Port=${stack.ports.smtp}`, '--ca-file', stack.ca]],
    ['test-mailbox', ['test-mailbox', mailbox, '--ca-file', stack.ca]],
    ['send-test --dry-run', ['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run']],
    ['poll', ['poll', mailbox, '--ca-file', stack.ca]],
    ['poll --json', ['poll', mailbox, '--ca-file', stack.ca, '--json']],
    ['diagnose --offline', ['diagnose', EXAMPLE, '--offline']],
  ];
  it.each(commands)('%s | (reader gone): exit 141, no trace', async (_name, args) => {
    const r = await closedReader(args);
    expect(r.stderr).not.toMatch(TRACE);
    expect(r.code).toBe(141);
  }, 60_000);

  it('stdout and stderr both gone (an error to report): still no crash', async () => {
    const r = await closedReader(['check-config', '/nonexistent/caldavd.plist'], true);
    expect([2, 141]).toContain(r.code);
  });
});

/** Run with stdout on /dev/full: every write fails with ENOSPC, as on a full disk. */
function fullDisk(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const out = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', out, 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    closeSync(out);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe.skipIf(!existsSync('/dev/full'))('output that cannot be written (a full disk)', () => {
  const stack = getStack();
  const cal = stack.users.find((u) => u.address.startsWith('calendar@'))!;
  const mailbox = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: { address: cal.address, password: cal.password } });
  const commands: Array<[string, string[]]> = [
    ['--help', ['--help']],
    ['--version', ['--version']],
    ['check-config', ['check-config', EXAMPLE]],
    ['check-config --json', ['check-config', EXAMPLE, '--json']],
    ['send-test --dry-run', ['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run']],
    ['poll --json', ['poll', mailbox, '--ca-file', stack.ca, '--json']],
    ['diagnose --offline', ['diagnose', EXAMPLE, '--offline']],
  ];
  it.each(commands)('%s > /dev/full: one line on stderr, exit 2 (could not run), no trace', async (_name, args) => {
    const r = await fullDisk(args);
    expect(r.stderr).toBe('imip: cannot write the output: ENOSPC: no space left on device, write\n');
    expect(r.code).toBe(2);
  }, 60_000);
});
