/**
 * `poll`'s output batches: what goes in comes out whole and in order, in writes of at most the
 * batch size (a longer text alone), and a batch already handed over is never written to again.
 */
import { describe, expect, it } from 'vitest';
import { OutputBatch } from '../../src/report/output-batch.js';

describe('OutputBatch', () => {
  it('gives back exactly the text written, in order, in writes no larger than the batch', () => {
    const writes: Buffer[] = [];
    const batch = new OutputBatch((b) => writes.push(b), 64);
    const texts = ['{"a":1}\n', 'é€😀 multi-byte at a boundary\n', 'x'.repeat(10), 'y'.repeat(30), 'short\n'];
    for (let i = 0; i < 20; i++) for (const t of texts) batch.write(t);
    batch.flush();
    expect(Buffer.concat(writes).toString('utf8')).toBe(texts.join('').repeat(20));
    for (const w of writes) expect(w.length).toBeLessThanOrEqual(64);
    // Batches, not one write per text.
    expect(writes.length).toBeLessThan(20 * texts.length);
  });

  it('a text longer than a batch goes out alone, after what came before it', () => {
    const writes: string[] = [];
    const batch = new OutputBatch((b) => writes.push(b.toString('utf8')), 16);
    batch.write('head;');
    batch.write('z'.repeat(40));
    batch.write('tail');
    batch.flush();
    expect(writes).toEqual(['head;', 'z'.repeat(40), 'tail']);
  });

  it('never changes a batch after handing it over (a write may still be waiting on a full pipe)', () => {
    const kept: Buffer[] = [];
    // Both texts fit in the batch, so both go through its buffer (a text that may not fit goes out alone).
    const batch = new OutputBatch((b) => kept.push(b), 64);
    batch.write('aaaa');
    batch.flush();
    batch.write('bbbb');
    batch.flush();
    expect(kept.map((b) => b.toString())).toEqual(['aaaa', 'bbbb']);
  });

  it('flush with nothing gathered writes nothing', () => {
    const writes: Buffer[] = [];
    const batch = new OutputBatch((b) => writes.push(b));
    batch.flush();
    batch.write('');
    batch.flush();
    expect(writes).toEqual([]);
  });
});
