// Test helpers around test/mailstack/mailstack.sh: start and stop a real
// Postfix + Dovecot stack on 127.0.0.1, inject mail over its MX port, and
// inspect or seed mailboxes with doveadm (always with the stack's own config).
import { execFile, spawn } from 'node:child_process';
import { closeSync, fchownSync, promises as fsp, mkdtempSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Path of the shell harness. */
export const MAILSTACK_SH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mailstack.sh');

/** Default users, as in mailstack.sh. */
export const DEFAULT_USERS =
  'calendar@example.test:Cal-pw-4412-secret alice@example.test:Alice-pw-9907-secret personal@example.test:Personal-pw-3301-secret';

/** uid/gid of Debian's "mail" user, which owns the mail storage. */
const MAIL_UID = 8;
const MAIL_GID = 8;

export interface StackUser {
  address: string;
  password: string;
  local: string;
  domain: string;
}

export interface StackPorts {
  smtp: number;
  smtps: number;
  mx: number;
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
}

export interface StackInfo {
  /** The state directory (configs, certificate, mail, logs, env). */
  dir: string;
  host: string;
  ports: StackPorts;
  /** PEM file that verifies every TLS listener (self-signed, SAN 127.0.0.1/localhost/mail.example.test). */
  ca: string;
  caPem: string;
  users: StackUser[];
  /** Plus-addressing (recipient_delimiter = +) on. */
  plus: boolean;
  /** Dovecot config for `doveadm -c`. */
  doveadmConf: string;
  pids: { postfix: number; dovecot: number };
  /** Listeners that reproduce how Calendar Server's own mail clients meet real servers. */
  clientVariants: ClientVariants;
}

/**
 * Variants for the server's mail clients (see the "Client-behaviour variants" block of
 * mailstack.sh). The base listeners refuse TLS 1.0 (today's default minimum).
 */
export interface ClientVariants {
  /** Submission (STARTTLS, AUTH after TLS) that also accepts TLS 1.0. */
  smtpTls10: number;
  /** Submission listing CRAM-MD5 (AUTH after TLS); `hashedUser` cannot answer it. */
  smtpCram: number;
  /** Submission whose certificate names other.example.test (self-signed: `otherCa`). */
  smtpOtherName: number;
  otherCa: string;
  /** A user whose password is stored hashed (SHA512-CRYPT): PLAIN and LOGIN work, CRAM-MD5 cannot. */
  hashedUser: StackUser;
  /** IMAP/POP3 on the base ports, not "secured" for Dovecot: LOGINDISABLED before TLS, TLS 1.0 accepted. */
  legacyHost: string;
  /** The same but TLS 1.2 at least: the server's STARTTLS/STLS with TLS 1.0 is refused. */
  modernRemoteHost: string;
  /** IMAP on the base port with no TLS at all (no STARTTLS) and LOGINDISABLED: no way to log in. */
  noTlsHost: string;
}

export interface StartOptions {
  /** State directory; default a fresh `mktemp -d /tmp/ims.XXXXXX` (see stackTmpDir). Keep it short (unix socket paths). */
  dir?: string;
  /** Added to every base port (smtp 2525, smtps 2465, mx 2500, imap 1143, imaps 1993, pop3 1110, pop3s 1995). */
  portOffset?: number;
  /** Plus-addressing; default true. */
  plus?: boolean;
  /** "user@dom:pw user2@dom:pw2" or a list; default DEFAULT_USERS. */
  users?: string | { address: string; password: string }[];
  /** Dovecot's sessions per user and address (mail_max_userip_connections); default 200. */
  maxUserIp?: number;
}

/** Base ports; a stack listens on base + offset. */
export const BASE_PORTS: Readonly<StackPorts> = { smtp: 2525, smtps: 2465, mx: 2500, imap: 1143, imaps: 1993, pop3: 1110, pop3s: 1995 };

/** Base ports of the client-behaviour variants (submission accepting TLS 1.0, CRAM-MD5, another host's certificate). */
export const VARIANT_BASE_PORTS = [2587, 2588, 2589] as const;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** True when all 7 ports of a stack at this offset can be bound on 127.0.0.1 right now. */
export async function portsFree(offset: number): Promise<boolean> {
  const results = await Promise.all([...Object.values(BASE_PORTS), ...VARIANT_BASE_PORTS].map((p) => portFree(p + offset)));
  return results.every(Boolean);
}

/**
 * The first offset `base + ((start + i) % slots) * 100` (i = 0, 1, ...) whose ports are free.
 * Offsets that are multiples of 100 never share a port (no two base ports differ by a multiple of 100).
 */
export async function freePortOffset(base: number, start: number, slots = 40): Promise<number> {
  for (let i = 0; i < slots; i++) {
    const offset = base + ((start + i) % slots) * 100;
    if (await portsFree(offset)) return offset;
  }
  throw new Error(`no free port offset in ${base}..${base + (slots - 1) * 100}`);
}

/** Parse DIR/env (KEY=VALUE lines; values may be single-quoted shell words). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] as string;
    let v = m[2] as string;
    if (v.startsWith("'") && v.endsWith("'") && v.length >= 2) v = v.slice(1, -1).replace(/'\\''/g, "'");
    env[key] = v;
  }
  return env;
}

export function parseUsers(spec: string): StackUser[] {
  return spec
    .split(/\s+/)
    .filter(Boolean)
    .map((entry) => {
      const i = entry.indexOf(':');
      const address = entry.slice(0, i);
      const at = address.lastIndexOf('@');
      return { address, password: entry.slice(i + 1), local: address.slice(0, at), domain: address.slice(at + 1) };
    });
}

/** Build a StackInfo from a running stack's state directory. */
export function readStackInfo(dir: string): StackInfo {
  const env = parseEnvFile(readFileSync(path.join(dir, 'env'), 'utf8'));
  const num = (k: string) => Number(env[k]);
  const str = (k: string): string => env[k] ?? '';
  return {
    dir: str('MAILSTACK_DIR'),
    host: str('MAILSTACK_HOST'),
    ports: {
      smtp: num('MAILSTACK_SMTP_PORT'),
      smtps: num('MAILSTACK_SMTPS_PORT'),
      mx: num('MAILSTACK_MX_PORT'),
      imap: num('MAILSTACK_IMAP_PORT'),
      imaps: num('MAILSTACK_IMAPS_PORT'),
      pop3: num('MAILSTACK_POP3_PORT'),
      pop3s: num('MAILSTACK_POP3S_PORT'),
    },
    ca: str('MAILSTACK_CA'),
    caPem: readFileSync(str('MAILSTACK_CA'), 'utf8'),
    users: parseUsers(str('MAILSTACK_USERS')),
    plus: env.MAILSTACK_PLUS === '1',
    doveadmConf: str('MAILSTACK_DOVECOT_CONF'),
    pids: { postfix: num('MAILSTACK_POSTFIX_PID'), dovecot: num('MAILSTACK_DOVECOT_PID') },
    clientVariants: {
      smtpTls10: num('MAILSTACK_SMTP_TLS10_PORT'),
      smtpCram: num('MAILSTACK_SMTP_CRAM_PORT'),
      smtpOtherName: num('MAILSTACK_SMTP_OTHER_PORT'),
      otherCa: env.MAILSTACK_OTHER_CA ?? '',
      hashedUser: parseUsers(env.MAILSTACK_HASHED_USER ?? '')[0]!,
      legacyHost: env.MAILSTACK_LEGACY_HOST ?? '127.0.0.2',
      modernRemoteHost: env.MAILSTACK_MODERN_REMOTE_HOST ?? '127.0.0.3',
      noTlsHost: env.MAILSTACK_NOTLS_HOST ?? '127.0.0.4',
    },
  };
}

function runHarness(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [MAILSTACK_SH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`mailstack.sh ${args[0]} failed (exit ${code}):\n${out.trim()}`));
    });
  });
}

/** `mailstack.sh check`: null when the packages are there, otherwise the one-line message. */
export async function checkStack(): Promise<string | null> {
  try {
    await execFileP('bash', [MAILSTACK_SH, 'check']);
    return null;
  } catch (e) {
    const err = e as { stdout?: string; message: string };
    return (err.stdout || err.message).trim();
  }
}

/**
 * Parent directory for fresh state dirs: $MAILSTACK_TMPDIR or /tmp. A tmpfs
 * such as /dev/shm makes Maildir work (seeding, delivery) several times faster.
 */
export function stackTmpDir(): string {
  return process.env.MAILSTACK_TMPDIR || '/tmp';
}

/**
 * Start a stack (dovecot, then postfix) and resolve once all 7 listeners greet.
 * Without `users` the defaults are used (the caller's MAILSTACK_USERS is ignored).
 * On failure the error carries the harness output (log tails); a state dir this
 * call created itself is removed then, unless MAILSTACK_KEEP=1.
 */
export async function startStack(opts: StartOptions = {}): Promise<StackInfo> {
  const env: NodeJS.ProcessEnv = { ...process.env, MAILSTACK_PORT_OFFSET: String(opts.portOffset ?? 0) };
  env.MAILSTACK_PLUS = opts.plus === false ? '0' : '1';
  if (opts.maxUserIp !== undefined) env.MAILSTACK_MAX_USERIP = String(opts.maxUserIp);
  else delete env.MAILSTACK_MAX_USERIP;
  if (opts.users === undefined) {
    delete env.MAILSTACK_USERS;
  } else if (typeof opts.users === 'string') {
    env.MAILSTACK_USERS = opts.users;
  } else {
    for (const u of opts.users) {
      if (/[\s:]/.test(u.password) || /[\s:]/.test(u.address)) {
        throw new Error(`mail stack user ${u.address}: address and password must not contain spaces or ':'`);
      }
    }
    env.MAILSTACK_USERS = opts.users.map((u) => `${u.address}:${u.password}`).join(' ');
  }
  const dir = opts.dir ?? mkdtempSync(path.join(stackTmpDir(), 'ims.'));
  try {
    await runHarness(['start', dir], env);
  } catch (e) {
    if (opts.dir === undefined && process.env.MAILSTACK_KEEP !== '1') {
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    throw e;
  }
  return readStackInfo(dir);
}

/** Stop both masters and wait until they and their children are gone; `remove` also deletes the state dir. */
export async function stopStack(info: Pick<StackInfo, 'dir'>, opts: { remove?: boolean } = {}): Promise<void> {
  await runHarness(['stop', info.dir], process.env);
  if (opts.remove) await fsp.rm(info.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- users and doveadm

/** Resolve "calendar", "calendar@example.test" or "calendar+tok@example.test" to a stack user. */
export function findUser(info: StackInfo, who: string | StackUser): StackUser {
  const name = (typeof who === 'string' ? who : who.address).toLowerCase();
  const at = name.lastIndexOf('@');
  let local = at < 0 ? name : name.slice(0, at);
  const domain = at < 0 ? undefined : name.slice(at + 1);
  const exact = info.users.find((u) => u.local.toLowerCase() === local && (!domain || u.domain.toLowerCase() === domain));
  if (exact) return exact;
  if (info.plus && local.includes('+')) {
    local = local.slice(0, local.indexOf('+'));
    const base = info.users.find((u) => u.local.toLowerCase() === local && (!domain || u.domain.toLowerCase() === domain));
    if (base) return base;
  }
  throw new Error(`not a user of the mail stack: ${name}`);
}

async function doveadm(info: StackInfo, args: string[], input?: Buffer): Promise<string> {
  const fullArgs = ['-c', info.doveadmConf, ...args];
  if (input === undefined) {
    const { stdout } = await execFileP('doveadm', fullArgs, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = spawn('doveadm', fullArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`doveadm ${args.join(' ')} failed (exit ${code}): ${err.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/** Number of messages in the user's INBOX. */
export async function mailboxCount(info: StackInfo, user: string | StackUser): Promise<number> {
  const u = findUser(info, user);
  const out = await doveadm(info, ['mailbox', 'status', '-u', u.address, 'messages', 'INBOX']);
  const m = /messages=(\d+)/.exec(out);
  if (!m) throw new Error(`unexpected doveadm mailbox status output: ${out}`);
  return Number(m[1]);
}

/** Expunge every message in the user's INBOX. */
export async function purgeMailbox(info: StackInfo, user: string | StackUser): Promise<void> {
  const u = findUser(info, user);
  await doveadm(info, ['expunge', '-u', u.address, 'mailbox', 'INBOX', 'all']);
}

/**
 * uid → stored flags of every message in the user's INBOX (e.g. ["\\Seen"]).
 * \Recent is left out: it is per-session state, not a stored flag.
 */
export async function mailboxFlags(info: StackInfo, user: string | StackUser): Promise<Map<number, string[]>> {
  const u = findUser(info, user);
  const out = await doveadm(info, ['-f', 'tab', 'fetch', '-u', u.address, 'uid flags', 'mailbox', 'INBOX', 'all']);
  const flags = new Map<number, string[]>();
  for (const line of out.split('\n').slice(1)) {
    if (!line.trim()) continue;
    const [uid, list = ''] = line.split('\t');
    flags.set(
      Number(uid),
      list.split(' ').filter((f) => f && f !== '\\Recent'),
    );
  }
  return flags;
}

/** Add \Seen to one message (by uid) or to every message of the user's INBOX. */
export async function markSeen(info: StackInfo, user: string | StackUser, uid?: number): Promise<void> {
  const u = findUser(info, user);
  const search = uid === undefined ? ['all'] : ['uid', String(uid)];
  await doveadm(info, ['flags', 'add', '-u', u.address, '\\Seen', 'mailbox', 'INBOX', ...search]);
}

async function uidNext(info: StackInfo, u: StackUser): Promise<number> {
  const out = await doveadm(info, ['mailbox', 'status', '-u', u.address, 'uidnext', 'INBOX']);
  return Number(/uidnext=(\d+)/.exec(out)?.[1] ?? NaN);
}

let seedSeq = 0;

/**
 * Bulk-seed the user's INBOX with raw messages, fast (thousands per second).
 *
 * How: the files are written straight into the user's Maildir (into tmp/,
 * owned by uid/gid 8 "mail", mode 0600, LF line endings like Dovecot's own
 * saves; then renamed into cur/ with no flags, in order, so that UIDs follow
 * `raws` even if Dovecot syncs meanwhile), named so that Dovecot's filename
 * ordering equals the order of `raws`; then one `doveadm force-resync` assigns
 * the UIDs. `doveadm save` works too but costs a process per message (~12 ms
 * each). Messages are stored unseen. Resolves to the new UIDs, in order.
 *
 * Speed is bound by file creation: 1,000 messages take ~0.1 s on tmpfs
 * (a stack in /dev/shm) and 0.4–1 s on this ext4 /tmp, depending on load.
 */
export async function seedMailbox(
  info: StackInfo,
  user: string | StackUser,
  raws: (string | Buffer)[],
): Promise<number[]> {
  const u = findUser(info, user);
  const maildir = path.join(info.dir, 'mail', u.domain, u.local, 'Maildir');
  const first = await uidNext(info, u);
  const sec = Math.floor(Date.now() / 1000);
  const tag = `seed${process.pid}x${++seedSeq}x${Math.random().toString(36).slice(2, 8)}`;
  const names = raws.map((_, i) => {
    // Same seconds, increasing zero-padded microseconds field: Dovecot sorts new
    // files by this time stamp when it assigns UIDs.
    const s = sec + Math.floor(i / 1_000_000);
    const us = String(i % 1_000_000).padStart(6, '0');
    return `${s}.M${us}P${process.pid}.${tag}`;
  });
  const sizes: number[] = new Array(raws.length);
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i] as string | Buffer;
    const name = names[i] as string;
    const body = toCrlfless(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
    const fd = openSync(path.join(maildir, 'tmp', name), 'wx', 0o600);
    try {
      writeSync(fd, body);
      fchownSync(fd, MAIL_UID, MAIL_GID);
    } finally {
      closeSync(fd);
    }
    sizes[i] = body.length;
  }
  // Move into cur/ one by one, in order: even if Dovecot syncs the mailbox in
  // the middle (a delivery, an IMAP session), UIDs still follow `raws`.
  for (let i = 0; i < raws.length; i++) {
    renameSync(path.join(maildir, 'tmp', names[i] as string), path.join(maildir, 'cur', `${names[i]},S=${sizes[i]}:2,`));
  }
  await doveadm(info, ['force-resync', '-u', u.address, 'INBOX']);
  if (raws.length === 0) return [];
  const out = await doveadm(info, ['-f', 'tab', 'fetch', '-u', u.address, 'uid', 'mailbox', 'INBOX', 'uid', `${first}:*`]);
  const uids = out
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map(Number)
    .filter((uid) => uid >= first)
    .sort((a, b) => a - b);
  if (uids.length < raws.length) throw new Error(`seedMailbox: expected ${raws.length} new messages, found ${uids.length}`);
  return uids.slice(0, raws.length);
}

/** Maildir stores messages with LF line endings (Dovecot converts to CRLF on output). */
function toCrlfless(buf: Buffer): Buffer {
  return Buffer.from(buf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

// ---------------------------------------------------------------- SMTP injection

export interface DeliverOptions {
  from: string;
  to: string[];
  raw: string | Buffer;
  /** Milliseconds to wait for Dovecot to have the message (default 5000). */
  timeoutMs?: number;
}

/** A minimal SMTP client: one reply at a time, multi-line aware. */
class SmtpConversation {
  private buf = '';
  private waiters: ((line: string | Error) => void)[] = [];
  private lines: string[] = [];
  private failure: Error | null = null;

  constructor(private socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const w of this.waiters.splice(0)) w(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('SMTP connection closed')));
    socket.setTimeout(10_000, () => socket.destroy(new Error('SMTP timeout')));
  }

  private nextLine(): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) =>
      this.waiters.push((l) => (l instanceof Error ? reject(l) : resolve(l))),
    );
  }

  async reply(): Promise<{ code: number; text: string }> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.nextLine();
      lines.push(line);
      if (!/^\d{3}-/.test(line)) break;
    }
    return { code: Number((lines[lines.length - 1] ?? '').slice(0, 3)), text: lines.join('\n') };
  }

  async expect(what: string, cmd: string | Buffer | null): Promise<{ code: number; text: string }> {
    if (cmd !== null) this.socket.write(typeof cmd === 'string' ? Buffer.from(cmd, 'latin1') : cmd);
    const r = await this.reply();
    if (r.code < 200 || r.code >= 400) throw new Error(`SMTP ${what} rejected: ${r.text}`);
    return r;
  }
}

/** CRLF line endings, dot-stuffing and the terminating "." line. */
export function smtpData(raw: string | Buffer): Buffer {
  let s = (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw).toString('latin1');
  s = s.replace(/\r?\n/g, '\r\n');
  if (!s.endsWith('\r\n')) s += '\r\n';
  s = s.replace(/^\./gm, '..');
  return Buffer.from(s + '.\r\n', 'latin1');
}

/** Send over the MX port; resolves to Postfix's queue id. */
async function smtpSend(info: StackInfo, from: string, to: string[], raw: string | Buffer): Promise<string> {
  const socket = net.connect({ host: info.host, port: info.ports.mx });
  const smtp = new SmtpConversation(socket);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await smtp.expect('greeting', null);
    const ehlo = await smtp.expect('EHLO', 'EHLO mailstack.test\r\n');
    const data = smtpData(raw);
    const eightBit = data.some((b) => b > 0x7f) && /^250[ -]8BITMIME/im.test(ehlo.text);
    await smtp.expect('MAIL FROM', `MAIL FROM:<${from}>${eightBit ? ' BODY=8BITMIME' : ''}\r\n`);
    for (const rcpt of to) await smtp.expect(`RCPT TO <${rcpt}>`, `RCPT TO:<${rcpt}>\r\n`);
    await smtp.expect('DATA', 'DATA\r\n');
    const done = await smtp.expect('message', data);
    socket.write('QUIT\r\n');
    await smtp.reply().catch(() => undefined);
    const id = /queued as ([0-9A-Za-z]+)/.exec(done.text)?.[1];
    if (!id) throw new Error(`SMTP: no queue id in ${done.text}`);
    return id;
  } finally {
    socket.destroy();
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Inject a raw RFC 5322 message over the unauthenticated MX port, as an
 * external sender would (CRLF line endings and dot-stuffing are applied), and
 * resolve (to Postfix's queue id) once Dovecot has stored it for every recipient.
 *
 * Rejects with the server's reply text when a command gets a non-2xx/3xx
 * answer (e.g. "550 5.1.1 <calendar+x@example.test>: Recipient address
 * rejected" when plus-addressing is off), and with Postfix's log lines when a
 * recipient bounces or is still deferred after `timeoutMs`.
 *
 * "Stored" is read from Postfix's log: the queue id of the 250 reply, one
 * `status=sent` line per recipient (Dovecot's LMTP answers 250 only after the
 * message is committed) and the final `removed`. Unlike polling the INBOX
 * count, this is exact for several recipients and is not fooled by another
 * test purging the same mailbox meanwhile.
 */
export async function deliver(info: StackInfo, opts: DeliverOptions): Promise<string> {
  const log = path.join(info.dir, 'log', 'postfix.log');
  const offset = (await fsp.stat(log)).size;
  const queueId = await smtpSend(info, opts.from, opts.to, opts.raw);
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  const mine = new RegExp(`: ${queueId}: (.*)$`);
  for (;;) {
    const lines = (await readFrom(log, offset))
      .split('\n')
      .map((l) => mine.exec(l)?.[1])
      .filter((l): l is string => l !== undefined);
    const outcomes = lines.filter((l) => /^to=<.*status=/.test(l));
    const failed = outcomes.filter((l) => !/ status=sent /.test(l));
    if (lines.includes('removed')) {
      if (failed.length) throw new Error(`deliver: not delivered (queue id ${queueId}):\n${failed.join('\n')}`);
      return queueId;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `deliver: queue id ${queueId} not delivered within ${opts.timeoutMs ?? 5000} ms` +
          (outcomes.length ? `:\n${outcomes.join('\n')}` : ` (see ${log})`),
      );
    }
    await new Promise((r) => setTimeout(r, 15));
  }
}

// ---------------------------------------------------------------- round trip: a second domain

/**
 * The round trip's stack variant (`send-test --reply-from`): the organizer's domain example.test
 * (the calendar mailbox, and a second mailbox that is not the calendar's) and an "outside
 * provider", remote.test, with its own test attendee mailbox, on the same Postfix and Dovecot. The
 * attendee reads over IMAP and sends through the same submission port, so the reply crosses the
 * same relay as mail between providers would. `plus: false` turns the recipient delimiter off.
 */
export const ROUND_TRIP_USERS = {
  calendar: { address: 'cal-rt@example.test', password: 'Cal-rt-pw-6620' },
  other: { address: 'other-rt@example.test', password: 'Other-rt-pw-1184' },
  attendee: { address: 'probe@remote.test', password: 'Probe-rt-pw-4471' },
} as const;

export async function startRoundTripStack(opts: { plus?: boolean; stripDetail?: boolean; base: number }): Promise<StackInfo> {
  const offset = await freePortOffset(opts.base, process.pid % 20, 20);
  const previous = process.env.MAILSTACK_STRIP_DETAIL;
  // mailstack.sh reads MAILSTACK_STRIP_DETAIL from the environment startStack passes on.
  if (opts.stripDetail) process.env.MAILSTACK_STRIP_DETAIL = '1';
  try {
    return await startStack({ portOffset: offset, plus: opts.plus !== false && !opts.stripDetail, users: Object.values(ROUND_TRIP_USERS) });
  } finally {
    if (previous === undefined) delete process.env.MAILSTACK_STRIP_DETAIL;
    else process.env.MAILSTACK_STRIP_DETAIL = previous;
  }
}
