/**
 * Text from outside (a reply's headers, a relay's banner) must reach the admin's terminal as
 * text: escape sequences in it would clear the screen, recolour or hide rows, set the window
 * title, or write over a line with a carriage return.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forTerminal, printable } from '../../src/report/terminal-text.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { foreignControls, hasColour } from '../helpers/terminal.js';

describe('printable', () => {
  it('shows control characters and bidirectional overrides as escapes, and keeps tabs and line breaks', () => {
    expect(printable('a\x1b[2Jb\rc\x07d\0e\x9bf\u202eg\th\ni')).toBe('a\\x1b[2Jb\\rc\\x07d\\0e\\x9bf\\u202eg\th\ni');
    expect(printable('calendar+tok@example.test')).toBe('calendar+tok@example.test');
  });

  it('is idempotent: text already shown is not escaped again', () => {
    const once = printable('x\x1b]0;title\x07');
    expect(printable(once)).toBe(once);
  });
});

describe('forTerminal', () => {
  it('copies only what changes: clean parts keep their identity, the input is not changed', () => {
    const clean = { id: 'reply.x', list: ['a', 'b'] };
    const dirty = { to: 'calendar+tok\x1b[2J@example.test', evidence: { subject: 'ok', banner: '220 \x1b[8mhidden' } };
    const input = { clean, dirty, n: 3, when: new Date(0), map: new Map([['k', 'v\r']]) };
    const out = forTerminal(input);
    expect(out.clean).toBe(clean);
    expect(out.dirty.to).toBe('calendar+tok\\x1b[2J@example.test');
    expect(out.dirty.evidence).toEqual({ subject: 'ok', banner: '220 \\x1b[8mhidden' });
    expect(out.when).toBe(input.when);
    expect([...out.map]).toEqual([['k', 'v\\r']]);
    expect(dirty.to).toBe('calendar+tok\x1b[2J@example.test');
    expect(forTerminal(clean)).toBe(clean);
  });
});

describe('hostile headers never reach the terminal as escape sequences', () => {
  const hostile =
    'From: "Mallory\x1b]0;owned\x07" <attendee@remote.test>\r\n' +
    'To: calendar+9a7e4c2d\x1b[2J\x1b[H@example.test\r\n' +
    'Subject: \x1b[8mhidden\r\n' +
    'Message-ID: <x\x1b[5m\r@y>\r\n' +
    'Date: Mon, 2 Mar 2026 09:20:11 +0000\r\n\r\nhello\r\n';

  for (const colour of ['1', undefined]) {
    it(`diagnose --message${colour ? ' with colour' : ''}: the values are shown as escapes, only colours are real`, async () => {
      const file = join(tempDir(), 'hostile.eml');
      writeFileSync(file, hostile, 'latin1');
      const r = await runCli(['diagnose', '--message', file, '--server-version', '9.2', '--verbose'], { env: { FORCE_COLOR: colour, NO_COLOR: colour ? undefined : '1' } });
      expect(r.code).toBe(1);
      expect(foreignControls(r.stdout + r.stderr)).toEqual([]);
      expect(r.stdout).toContain('calendar+9a7e4c2d\\x1b[2J\\x1b[H@example.test');
      expect(hasColour(r.stdout)).toBe(Boolean(colour));
    });
  }

  it('--json keeps the values as they are (JSON escapes them itself)', async () => {
    const file = join(tempDir(), 'hostile.eml');
    writeFileSync(file, hostile, 'latin1');
    const r = await runCli(['diagnose', '--message', file, '--server-version', '9.2', '--json']);
    expect(r.stdout.includes('\x1b')).toBe(false);
    expect(r.stdout).toContain('calendar+9a7e4c2d\\u001b[2J\\u001b[H@example.test');
  });
});
