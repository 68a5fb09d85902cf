/**
 * Room in stdout for more rows, for a poll that streams them (mailbox/keep-alive.ts).
 *
 * On Linux, Node writes to a file or a terminal synchronously, but to a pipe asynchronously: what
 * the reader has not taken yet waits in the stream's queue, in this process's memory. A reader
 * that stops (`imip poll --once | less`, a person on the first page) would otherwise have the
 * whole cycle's output queued; with this the poll stops reading mail once about 1 MiB waits, and
 * goes on when the queue has drained.
 */

/** Bytes queued for stdout's reader beyond which the poll reads no more messages. */
export const OUTPUT_QUEUE_LIMIT = 1024 * 1024;

/** Null while less than `limit` bytes wait for the reader; else a promise that settles once they have gone (or stdout has closed). */
export function stdoutRoom(stream: NodeJS.WritableStream & { writableLength: number; destroyed: boolean } = process.stdout, limit = OUTPUT_QUEUE_LIMIT): () => Promise<void> | null {
  return () => {
    if (stream.writableLength <= limit || stream.destroyed) return null;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  };
}
