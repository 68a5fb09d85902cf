/**
 * The poll's `UID SEARCH` on the borrowed connection (src/mailbox/imap-raw-session.ts): the UIDs of
 * every untagged SEARCH answer, whatever else the server interleaves (RFC 3501 §7.2.5, §7.3.1).
 * A scripted peer stands in for the server: it records each command and answers with given lines.
 */
import { Duplex, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ImapFlow } from 'imapflow';
import { RawSession } from '../../src/mailbox/imap-raw-session.js';

/** A socket whose peer answers each command with `answer(tag, command)`. */
function scripted(answer: (tag: string, command: string) => string): { flow: ImapFlow; commands: string[] } {
  const commands: string[] = [];
  const socket: Duplex = new Duplex({
    read() {},
    write(chunk, _enc, done) {
      const line = String(chunk).trimEnd();
      commands.push(line);
      const [tag, ...rest] = line.split(' ');
      setImmediate(() => socket.push(Buffer.from(answer(tag!, rest.join(' ')))));
      done();
    },
  });
  const streamer = new Writable({ write: (_c, _e, done) => done() });
  socket.pipe(streamer);
  return { flow: { socket, streamer } as unknown as ImapFlow, commands };
}

async function search(lines: (tag: string) => string): Promise<{ uids: number[]; commands: string[] }> {
  const { flow, commands } = scripted((tag) => lines(tag));
  const raw = RawSession.borrow(flow, () => undefined)!;
  try {
    return { uids: await raw.search('ALL'), commands };
  } finally {
    raw.release();
  }
}

describe('UID SEARCH on the borrowed connection', () => {
  it('sends UID SEARCH with the criteria and collects every answer line, in order', async () => {
    const r = await search((t) => `* 3 EXISTS\r\n* SEARCH 4 17 9\r\n* OK still here\r\n* search 200\r\n${t} OK done\r\n`);
    expect(r.commands).toEqual(['X1 UID SEARCH ALL']);
    expect(r.uids).toEqual([4, 17, 9, 200]);
  });

  it('an empty answer is no UID; a MODSEQ suffix is not one', async () => {
    expect((await search((t) => `* SEARCH\r\n${t} OK done\r\n`)).uids).toEqual([]);
    expect((await search((t) => `* SEARCH 5 6 (MODSEQ 917162500)\r\n${t} OK done\r\n`)).uids).toEqual([5, 6]);
  });

  it("a refusal is an error with the server's text", async () => {
    await expect(search((t) => `${t} NO [SERVERBUG] internal error\r\n`)).rejects.toThrow(/refused UID SEARCH ALL: NO \[SERVERBUG\] internal error/);
  });
});
