// A realistic iMIP mailbox for the benchmarks, built from the replies real clients send (the test
// fixtures in test/fixtures/messages): per 20 messages, 13 replies with a calendar part (Apple Mail,
// iPhone, Gmail, Outlook with and without ORGANIZER, Thunderbird), 1 such reply carrying a 5 MB
// attachment (5%), 3 bounces (delivery-status reports, with and without the invitation) and 3 human
// messages (plain text, a reply to the bare address). Each copy gets its own Message-ID.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = path.join(ROOT, 'test/fixtures/messages');

const load = (name) => readFileSync(path.join(FIX, `${name}.eml`), 'latin1');

export const REPLY_SHAPES = ['apple-mail-reply', 'iphone-reply', 'gmail-reply', 'outlook-reply', 'outlook-reply-no-organizer', 'thunderbird-reply'];
const BOUNCES = ['dsn-with-invitation', 'dsn-without-original'];
const HUMAN = ['human-reply', 'reply-to-bare-address'];

/** The 20-message cycle: kind and fixture of each slot. */
const CYCLE = [
  ...Array.from({ length: 13 }, (_, i) => ['reply', REPLY_SHAPES[i % REPLY_SHAPES.length]]),
  ['big', 'thunderbird-reply'],
  ...Array.from({ length: 3 }, (_, i) => ['bounce', BOUNCES[i % BOUNCES.length]]),
  ...Array.from({ length: 3 }, (_, i) => ['human', HUMAN[i % HUMAN.length]]),
];
// Spread the big one: slot 10 of 20 rather than next to its neighbours.
CYCLE.splice(10, 0, CYCLE.splice(13, 1)[0]);

const cache = new Map();
function fixture(name) {
  let f = cache.get(name);
  if (!f) cache.set(name, (f = load(name)));
  return f;
}

/** The tokens of the fixtures as `send-test` records them (sent-tokens.jsonl lines). */
export function tokenStoreLines() {
  const tokens = JSON.parse(readFileSync(path.join(FIX, 'tokens.json'), 'utf8'));
  return Object.entries(tokens)
    .map(([token, r]) => JSON.stringify({ token, organizer: r.organizer, attendee: r.attendee, uid: r.uid, sentAt: '2026-03-01T09:00:00Z' }))
    .join('\n') + '\n';
}

function withMessageId(raw, i) {
  const re = /^Message-I[Dd]:[^\n]*(\n[ \t][^\n]*)*/m;
  const id = `Message-ID: <bench-${i}@remote.test>`;
  return re.test(raw) ? raw.replace(re, id) : `${id}\n${raw}`;
}

/** Append a base64 attachment of `mb` MB to a multipart/mixed message. */
function withAttachment(raw, mb) {
  const m = /^Content-Type:\s*multipart\/mixed;[\s\S]*?boundary="?([^"\s;]+)"?/im.exec(raw);
  if (!m) throw new Error('withAttachment: not multipart/mixed');
  const boundary = m[1];
  const end = raw.lastIndexOf(`--${boundary}--`);
  const line = 'JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n';
  const body = line.repeat(Math.ceil((mb * 1024 * 1024) / line.length));
  const part = `--${boundary}\r\nContent-Type: application/pdf; name="slides.pdf"\r\nContent-Disposition: attachment; filename="slides.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}`;
  return `${raw.slice(0, end)}${part}${raw.slice(end)}`;
}

/**
 * Message `i` of the mailbox. `bigRatio` 0 gives small messages only (the RSS rows);
 * `mix: 'replies'` gives replies only (the messages-per-second row).
 */
export function message(i, { bigRatio = 0.05, bigMb = 5, mix = 'realistic' } = {}) {
  let kind;
  let name;
  if (mix === 'replies') [kind, name] = ['reply', REPLY_SHAPES[i % REPLY_SHAPES.length]];
  else [kind, name] = CYCLE[i % CYCLE.length];
  if (kind === 'big' && !(bigRatio > 0)) kind = 'reply';
  let raw = withMessageId(fixture(name), i);
  if (kind === 'big') raw = withAttachment(raw, bigMb);
  // Maildir files use LF line ends; Dovecot serves CRLF.
  return { kind, raw: Buffer.from(raw.replace(/\r\n/g, '\n'), 'latin1') };
}
