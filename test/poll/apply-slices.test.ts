/**
 * The windows `--apply` over IMAP reads calendars again in: 50 messages, fewer when their
 * calendars are big, so that a window never holds more than 64 MB of calendars as sent (a
 * calendar is read whole up to 32 MB, as the server parses it). One message at least.
 */
import { describe, expect, it } from 'vitest';
import { applySliceEnd } from '../../src/poll/apply-imap.js';

const MB = 1024 * 1024;

/** The windows of jobs whose calendars are `sizes` MB as sent. */
function windows(sizes: number[], window = 50): number[][] {
  const bytes = sizes.map((mb) => mb * MB);
  const out: number[][] = [];
  for (let i = 0; i < sizes.length; ) {
    const end = applySliceEnd(bytes, i, window);
    out.push(sizes.slice(i, end));
    i = end;
  }
  return out;
}

describe('--apply over IMAP: the windows calendars are read again in', () => {
  it('small calendars: windows of 50', () => {
    expect(windows(Array.from({ length: 120 }, () => 0.01)).map((w) => w.length)).toEqual([50, 50, 20]);
  });

  it('big calendars: a window closes before it would pass 64 MB', () => {
    expect(windows([1, 1, 1, 30, 30, 10, 1])).toEqual([[1, 1, 1, 30, 30], [10, 1]]);
    expect(windows([30, 30, 30])).toEqual([[30, 30], [30]]);
  });

  it('a calendar past 64 MB (cut at 32 MB when read) still gets a window of its own', () => {
    expect(windows([1, 70, 1])).toEqual([[1], [70], [1]]);
  });

  it('the count limit still holds', () => {
    expect(windows([1, 1, 1], 2)).toEqual([[1, 1], [1]]);
  });
});
