/**
 * Output gathered into writes of about 64 KB, encoded as it comes.
 *
 * One write per message cost more than the message's classification (a system call each), so
 * output is batched. Each piece of text is copied into the batch's buffer at once, so no string
 * outlives the row it came from: a batch kept as strings lived long enough to be promoted out of
 * V8's young generation, and was copied there, all through a long poll.
 */
export class OutputBatch {
  private buf: Buffer;
  private used = 0;

  constructor(
    /** Takes each full batch; it may keep the buffer (a write waiting on a full pipe). */
    private readonly sink: (bytes: Buffer) => void,
    private readonly size = 64 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: a text that might not fit goes after a flush.
    if (text.length * 3 > this.size - this.used) {
      this.flush();
      if (text.length * 3 > this.size) {
        this.sink(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.used += this.buf.write(text, this.used, 'utf8');
  }

  /** Hand what is gathered to the sink (nothing when empty). */
  flush(): void {
    if (!this.used) return;
    const full = this.buf.subarray(0, this.used);
    // A fresh buffer: the sink may still hold the last one.
    this.buf = Buffer.allocUnsafe(this.size);
    this.used = 0;
    this.sink(full);
  }
}
