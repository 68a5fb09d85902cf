/**
 * Fuzz: 1,200 mutated messages with a fixed seed, made from the reply fixtures (bytes flipped,
 * NUL bytes, CR-only and LF-only line ends, ranges cut or repeated, a huge header, stray
 * boundaries, truncation). For each one:
 * - `poll`'s path (the message streamed through the parser in random chunks, as POP3 RETR hands
 *   it over, then the classifier) and `diagnose --message`'s path (the file read by diagnose, then
 *   the same classifier) give the same verdict: server action, token and To;
 * - nothing throws, and the examined record stays small (every echoed value is capped).
 * Then a batch of them through the real `imip diagnose --message --json`: it ends by itself, with
 * exit 0 or 1, no stack trace, and bounded output.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classify, needsBody } from '../../src/imip/classify.js';
import { MimeStreamParser } from '../../src/imip/mime.js';
import { isHeaderLine } from '../../src/imip/mime-headers.js';
import { examine, MessageReadError, readMessage } from '../../src/diagnose/messages.js';
import { capMaybe, capText } from '../../src/report/cap.js';
import { context, FIXTURE_DIR } from './message-fixtures.js';
import { tempDir } from '../helpers/plist.js';
import { runCli, jsonOf } from '../helpers/cli.js';

const SEED = 0x1d2f00d;
const COUNT = 1200;

/** mulberry32: a small seeded PRNG, so every run fuzzes the same messages. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const int = (n: number): number => Math.floor(rand() * n);

const bases = readdirSync(FIXTURE_DIR)
  .filter((f) => f.endsWith('.eml'))
  .sort()
  .map((f) => readFileSync(join(FIXTURE_DIR, f)));

type Mutation = (b: Buffer) => Buffer;
const MUTATIONS: Array<[string, Mutation]> = [
  ['flip bytes', (b) => { const c = Buffer.from(b); for (let i = 0, n = 1 + int(8); i < n && c.length; i++) c[int(c.length)] = int(256); return c; }],
  ['insert NUL', (b) => { const i = int(b.length + 1); return Buffer.concat([b.subarray(0, i), Buffer.from([0]), b.subarray(i)]); }],
  ['CR-only line ends', (b) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r'), 'latin1')],
  ['LF-only line ends', (b) => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')],
  ['mixed line ends', (b) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, () => ['\r\n', '\n', '\r'][int(3)]!), 'latin1')],
  ['cut a range', (b) => { const i = int(b.length); const j = i + int(200); return Buffer.concat([b.subarray(0, i), b.subarray(j)]); }],
  ['repeat a range', (b) => { const i = int(b.length); const r = b.subarray(i, i + int(300)); return Buffer.concat([b.subarray(0, i), r, r, r, b.subarray(i)]); }],
  ['truncate', (b) => b.subarray(0, int(b.length))],
  ['huge header', (b) => Buffer.concat([Buffer.from(`X-Huge: ${'h'.repeat(200_000 + int(300_000))}\r\n`), b])],
  ['huge To', (b) => Buffer.from(b.toString('latin1').replace(/^To: /m, `To: ${'x'.repeat(100_000 + int(200_000))}@a.test, `), 'latin1')],
  ['stray boundary', (b) => { const s = b.toString('latin1'); const m = /boundary="?([^";\r\n]+)/i.exec(s); const i = int(s.length); return Buffer.from(`${s.slice(0, i)}\r\n--${m?.[1] ?? 'x'}${rand() < 0.5 ? '--' : ''}\r\n${s.slice(i)}`, 'latin1'); }],
  ['random bytes', (b) => { const i = int(b.length); const r = Buffer.alloc(1 + int(64)); for (let k = 0; k < r.length; k++) r[k] = int(256); return Buffer.concat([b.subarray(0, i), r, b.subarray(i)]); }],
  ['8-bit header', (b) => Buffer.from(b.toString('latin1').replace(/^Subject: /m, 'Subject: \xe9\xff\x80 '), 'latin1')],
  ['fold every header', (b) => Buffer.from(b.toString('latin1').replace(/^([A-Za-z-]+): /gm, '$1:\r\n\t'), 'latin1')],
];

/** poll's path: streamed in random chunks, as POP3 RETR hands it to the parser. */
function pollVerdict(raw: Buffer) {
  const p = new MimeStreamParser(needsBody);
  for (let i = 0; i < raw.length; ) {
    const n = 1 + int(4096);
    p.write(raw.subarray(i, i + n));
    i += n;
  }
  const parsed = p.end();
  return classify({ headers: parsed.headers, root: parsed.root, bodies: parsed.bodies, problems: parsed.problems }, context('9.2', 'pop3'));
}

const mutants: Array<{ name: string; raw: Buffer }> = [];
for (let i = 0; i < COUNT; i++) {
  let raw: Buffer = bases[int(bases.length)]!;
  const names: string[] = [];
  for (let k = 0, n = 1 + int(3); k < n; k++) {
    const [name, mutate] = MUTATIONS[int(MUTATIONS.length)]!;
    raw = mutate(raw);
    names.push(name);
  }
  mutants.push({ name: `#${i} ${names.join(' + ')}`, raw });
}

describe('what Python\'s email parser reads, diagnose examines as poll does', () => {
  const reply = readFileSync(join(FIXTURE_DIR, 'thunderbird-reply.eml'));
  const judge = async (raw: Buffer) => {
    const file = join(tempDir('imip-fuzz-one-'), 'm.eml');
    writeFileSync(file, raw);
    return examine(await readMessage(file), context('9.2', 'pop3'), { source: 'file', label: file });
  };

  it('a reply with one NUL byte is examined, not refused as binary data, and gets poll\'s verdict', async () => {
    const s = reply.toString('latin1');
    const raw = Buffer.from(s.replace(/^Subject: /m, 'Subject: \0'), 'latin1');
    const ex = await judge(raw);
    expect(ex.serverAction).toBe(pollVerdict(raw).serverAction);
    expect(ex.serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('a reply with CR-only line ends: its To is read (Python splits lines on a bare CR too)', async () => {
    const raw = Buffer.from(reply.toString('latin1').replace(/\r?\n/g, '\r'), 'latin1');
    const ex = await judge(raw);
    expect(ex.serverAction).not.toBe('MALFORMED_TO_ADDRESS');
    expect(ex.token).toMatch(/^[0-9a-f-]{36}$/);
    expect(ex.serverAction).toBe(pollVerdict(raw).serverAction);
  });

  it('a 1 MB To header: the verdict holds, every echoed value is capped and says so', async () => {
    const raw = Buffer.from(reply.toString('latin1').replace(/^To: /m, `To: ${'x'.repeat(1_000_000)}@a.test, `), 'latin1');
    const ex = await judge(raw);
    expect(ex.serverAction).toBe(pollVerdict(raw).serverAction);
    expect(ex.toHeader!.length).toBeLessThan(3000);
    expect(ex.toHeader).toMatch(/\[cut: \d+ characters, first 2000 shown\]$/);
    expect(JSON.stringify(ex).length).toBeLessThan(64 * 1024);
  });
});

describe(`fuzz: ${COUNT} mutated messages (seed ${SEED.toString(16)})`, () => {
  it('poll and diagnose give the same verdict to every one; nothing throws; records stay small', async () => {
    const dir = tempDir('imip-fuzz-');
    let examined = 0;
    let refused = 0;
    for (const [i, m] of mutants.entries()) {
      const file = join(dir, `m${i}.eml`);
      writeFileSync(file, m.raw);
      const poll = pollVerdict(m.raw);
      let input;
      try {
        input = await readMessage(file);
      } catch (err) {
        // diagnose says why it will not examine a file only when it is no message at all.
        expect(err, m.name).toBeInstanceOf(MessageReadError);
        expect((err as Error).message, m.name).toMatch(/not a mail message|binary data|empty/);
        // ... and never for a NUL byte or bare CRs in a message whose first line is a header.
        const first = m.raw.toString('latin1').split(/\r\n|\r|\n/, 1)[0] ?? '';
        if (isHeaderLine(first) && !/^\s/.test(first)) expect((err as Error).message, m.name).not.toMatch(/binary data/);
        refused++;
        continue;
      }
      examined++;
      const ex = examine(input, context('9.2', 'pop3'), { source: 'file', label: file });
      // diagnose shows each value capped; the verdict itself is the same.
      expect({ action: ex.serverAction, token: ex.token, to: ex.to }, m.name).toEqual({
        action: poll.serverAction,
        token: capMaybe(poll.token),
        to: capText(poll.to),
      });
      // Every echoed value capped: a record is a few KB whatever the input.
      expect(JSON.stringify(ex).length, m.name).toBeLessThan(64 * 1024);
    }
    expect(examined + refused).toBe(COUNT);
    // Most mutants are still messages: the fuzz really exercises the classifier.
    expect(examined).toBeGreaterThan(COUNT * 0.8);
  }, 300_000);

  it('the real `imip diagnose --message --json` over 150 of them: ends by itself, no stack trace, bounded output', async () => {
    const dir = tempDir('imip-fuzz-cli-');
    const files = mutants.slice(0, 150).map((m, i) => {
      const file = join(dir, `m${i}.eml`);
      writeFileSync(file, m.raw);
      return file;
    });
    const r = await runCli(['diagnose', '--config', join(dir, 'none.plist'), '--server-version', '9.2', '--json', '--message', ...files], { timeoutMs: 120_000 });
    // Exit 2 only for the config, which is missing on purpose (the messages are judged anyway).
    expect([0, 1, 2]).toContain(r.code);
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    const report = jsonOf(r) as { messages: unknown[] };
    expect(report.messages.length).toBeGreaterThan(100);
    expect(r.stdout.length).toBeLessThan(150 * 64 * 1024);
  }, 180_000);
});
