/** The sent-token record survives concurrent writers and torn lines. */
import { fork } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTokens, recordToken, stateDir, tokenLookup, TOKENS_FILE, type SentToken } from '../../src/state/tokens.js';
import { tempDir } from '../helpers/plist.js';

const rec = (i: number): SentToken => ({
  token: `abcdef00-0000-4000-8000-${String(i).padStart(12, '0')}`,
  organizer: 'mailto:organizer@example.test',
  attendee: `mailto:a${i}@remote.test`,
  uid: `uid-${i}`,
  sentAt: new Date(0).toISOString(),
});

describe('sent-token store', () => {
  it('round-trips and looks tokens up exactly', () => {
    const dir = join(tempDir(), 'state');
    recordToken(dir, rec(1));
    recordToken(dir, rec(2));
    const look = tokenLookup(readTokens(dir));
    expect(look(rec(2).token)).toMatchObject({ uid: 'uid-2' });
    // Not in this store: the server may still know it (its own invitations), so: cannot check.
    expect(look(rec(2).token.toUpperCase())).toBeUndefined();
    expect(look('nope')).toBeUndefined();
  });

  it('finds nothing when two records share a token, as the server does', () => {
    const dir = tempDir();
    recordToken(dir, rec(1));
    recordToken(dir, { ...rec(1), uid: 'other' });
    expect(tokenLookup(readTokens(dir))(rec(1).token)).toBeNull();
  });

  it('answers "cannot check" without a store', () => {
    expect(tokenLookup(null)('x')).toBeUndefined();
  });

  it('skips a torn last line and foreign lines', () => {
    const dir = tempDir();
    writeFileSync(join(dir, TOKENS_FILE), `${JSON.stringify(rec(1))}\nnot json\n{"token":"x"}\n`);
    appendFileSync(join(dir, TOKENS_FILE), JSON.stringify(rec(2)).slice(0, 20));
    expect(readTokens(dir).map((r) => r.uid)).toEqual(['uid-1']);
  });

  it('keeps every record when four processes append at once', async () => {
    const dir = tempDir();
    const script = join(dir, 'writer.mjs');
    // The compiled module (npm test builds first): plain Node runs it, as the CLI does.
    const mod = new URL('../../dist/state/tokens.js', import.meta.url).pathname;
    writeFileSync(
      script,
      `const { recordToken } = await import(${JSON.stringify(mod)});
       const id = Number(process.argv[2]);
       for (let i = 0; i < 250; i++) recordToken(process.argv[3], { token: id + '-' + i, organizer: 'mailto:o@x', attendee: 'mailto:a@y', uid: 'u' + i, sentAt: 'now', pad: 'x'.repeat(500) });`,
    );
    await Promise.all(
      [1, 2, 3, 4].map(
        (id) =>
          new Promise<void>((resolve, reject) => {
            const child = fork(script, [String(id), dir]);
            child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${id} exited ${code}`))));
          }),
      ),
    );
    const all = readTokens(dir);
    expect(all).toHaveLength(1000);
    expect(new Set(all.map((r) => r.token)).size).toBe(1000);
  });

  it('defaults to the XDG state directory', () => {
    expect(stateDir(undefined, { XDG_STATE_HOME: '/x' })).toBe('/x/imip');
    expect(stateDir('/flag', { XDG_STATE_HOME: '/x' })).toBe('/flag');
  });
});
