/** The log scan's multi-text search finds exactly what a plain indexOf per text finds. */
import { describe, expect, it } from 'vitest';
import { NeedleSearch } from '../../src/diagnose/needle-search.js';

function naive(hay: Buffer, needles: string[]): number[] {
  const out = new Set<number>();
  for (const n of needles) for (let i = hay.indexOf(n); i >= 0; i = hay.indexOf(n, i + 1)) out.add(i);
  return [...out].sort((a, b) => a - b);
}

describe('NeedleSearch', () => {
  const needles = ["Mail gateway didn't find a token in message", 'IMAP Error:', 'Sent IMIP message', 'failed for recipient', 'IMAP login failed for'];
  const search = new NeedleSearch(needles);

  it('finds every occurrence of every text, at any offset, and nothing else', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const words = ['IMAP', 'Error', 'Sent', 'IMIP', 'message', 'failed', 'for', 'recipient', 'Mail', 'gateway', ' ', ':', 'login', '\n', 'IMAP Error', 'Sent IMIP messag'];
    for (let round = 0; round < 50; round++) {
      let text = '';
      while (text.length < 3000) text += rnd(20) === 0 ? needles[rnd(needles.length)] : words[rnd(words.length)];
      const hay = Buffer.from(text, 'latin1');
      const found: number[] = [];
      search.scan(hay, 0, hay.length, (at) => {
        found.push(at);
        return at + 1;
      });
      expect(found).toEqual(naive(hay, needles));
    }
  });

  it('searches only the given range, and jumps where the caller says', () => {
    const hay = Buffer.from('IMAP Error: one\nIMAP Error: IMAP Error: two\nSent IMIP message\n', 'latin1');
    const found: number[] = [];
    search.scan(hay, 1, hay.length, (at) => {
      found.push(at);
      return hay.indexOf(10, at) + 1; // the rest of the line is not searched again
    });
    expect(found).toEqual([16, 44]);
  });
});
