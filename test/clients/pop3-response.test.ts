// Pure tests of the POP3 answer parser (src/clients/pop3/response.ts) and the other pure pieces
// (CAPA parsing, APOP digest and challenge detection). No sockets.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  ResponseReader,
  bodyLines,
  parseStatusLine,
  type Pop3Response,
  type ResponseExpectation,
} from '../../src/clients/pop3/response.js';
import { parseCapabilities } from '../../src/clients/pop3/commands/capa.js';
import { apopDigest } from '../../src/clients/pop3/commands/apop.js';
import { apopChallengeOf } from '../../src/clients/pop3/connection.js';

describe('parseStatusLine', () => {
  const cases: [string, ReturnType<typeof parseStatusLine>][] = [
    ['+OK', { kind: 'ok', ok: true, text: '', raw: '+OK' }],
    ['+OK 2 320', { kind: 'ok', ok: true, text: '2 320', raw: '+OK 2 320' }],
    ['+OK Dovecot (Debian) ready.', { kind: 'ok', ok: true, text: 'Dovecot (Debian) ready.', raw: '+OK Dovecot (Debian) ready.' }],
    ['-ERR', { kind: 'err', ok: false, text: '', raw: '-ERR' }],
    ['-ERR no such message', { kind: 'err', ok: false, text: 'no such message', raw: '-ERR no such message' }],
    [
      '-ERR [AUTH] Authentication failed.',
      { kind: 'err', ok: false, code: 'AUTH', text: 'Authentication failed.', raw: '-ERR [AUTH] Authentication failed.' },
    ],
    [
      '-ERR [IN-USE] Mailbox is locked by another POP3 session.',
      { kind: 'err', ok: false, code: 'IN-USE', text: 'Mailbox is locked by another POP3 session.', raw: '-ERR [IN-USE] Mailbox is locked by another POP3 session.' },
    ],
    [
      '-ERR [SYS/TEMP] Temporary system problem',
      { kind: 'err', ok: false, code: 'SYS/TEMP', text: 'Temporary system problem', raw: '-ERR [SYS/TEMP] Temporary system problem' },
    ],
    ['-ERR [LOGIN-DELAY]', { kind: 'err', ok: false, code: 'LOGIN-DELAY', text: '', raw: '-ERR [LOGIN-DELAY]' }],
    ['+ok lower case', { kind: 'ok', ok: true, text: 'lower case', raw: '+ok lower case' }],
    ['+OK [not a code at the end', { kind: 'ok', ok: true, text: '[not a code at the end', raw: '+OK [not a code at the end' }],
    ['+ ', { kind: 'continue', ok: false, text: '', raw: '+ ' }],
    ['+', { kind: 'continue', ok: false, text: '', raw: '+' }],
    ['+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+', { kind: 'continue', ok: false, text: 'PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+', raw: '+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+' }],
    ['+OKAY', undefined],
    ['-ERROR', undefined],
    ['* OK IMAP4rev1', undefined],
    ['220 smtp ready', undefined],
    ['', undefined],
  ];
  test.each(cases)('%j', (line, expected) => {
    expect(parseStatusLine(line)).toEqual(expected);
  });
});

// ---------------------------------------------------------------- ResponseReader helpers

interface Exp extends ResponseExpectation {
  label: string;
}

interface Got {
  label: string;
  status: string;
  code?: string;
  body?: string;
  streamed?: string;
  bodyBytes: number;
}

/** Runs a reader over `chunks` with `exps` queued first; returns the answers and any error. */
function run(exps: { label: string; multiline: boolean; stream?: boolean }[], chunks: Buffer[]) {
  const got: Got[] = [];
  const errors: string[] = [];
  const streams = new Map<string, Buffer[]>();
  const reader = new ResponseReader<Exp>({
    onResponse(res: Pop3Response, exp: Exp) {
      const g: Got = { label: exp.label, status: res.status.raw, bodyBytes: res.bodyBytes };
      if (res.status.code !== undefined) g.code = res.status.code;
      if (res.body) g.body = res.body.toString('latin1');
      const s = streams.get(exp.label);
      if (s && res.status.ok) g.streamed = Buffer.concat(s).toString('latin1');
      got.push(g);
    },
    onError(message) {
      errors.push(message);
    },
  });
  for (const e of exps) {
    const exp: Exp = { label: e.label, multiline: e.multiline };
    if (e.stream) {
      const parts: Buffer[] = [];
      streams.set(e.label, parts);
      exp.onChunk = (c) => parts.push(Buffer.from(c));
    }
    reader.expect(exp);
  }
  for (const c of chunks) reader.push(c);
  return { got, errors, reader };
}

function splitAt(buf: Buffer, ...offsets: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const o of [...offsets, buf.length]) {
    out.push(buf.subarray(prev, o));
    prev = o;
  }
  return out;
}

const b = (s: string) => Buffer.from(s, 'latin1');

// A pipelined session: greeting, CAPA, STAT, UIDL, TOP with stuffed lines, a -ERR to a multi-line
// command, an empty body, and RETR streamed.
const SESSION = b(
  [
    '+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>',
    '+OK',
    'CAPA',
    'TOP',
    'UIDL',
    'RESP-CODES',
    'PIPELINING',
    'SASL PLAIN LOGIN',
    '.',
    '+OK 2 320',
    '+OK',
    '1 whqtswO00WBw418f9t5JxYwZ',
    '2 QhdPYR:00WBw1Ph7x7',
    '.',
    '+OK 120 octets',
    'Subject: x',
    '',
    '..starts with a dot',
    '..',
    '...',
    '. .',
    'ends with a dot.',
    '.',
    '-ERR [SYS/TEMP] no such message',
    '+OK',
    '.',
    '+OK 99 octets',
    'Line 1',
    '..hidden',
    '',
    '.',
    '+OK bye',
    '',
  ].join('\r\n'),
);

const SESSION_EXPS = [
  { label: 'greeting', multiline: false },
  { label: 'capa', multiline: true },
  { label: 'stat', multiline: false },
  { label: 'uidl', multiline: true },
  { label: 'top', multiline: true },
  { label: 'top-missing', multiline: true },
  { label: 'list-empty', multiline: true },
  { label: 'retr', multiline: true, stream: true },
  { label: 'quit', multiline: false },
];

const SESSION_EXPECTED: Got[] = ([
  { label: 'greeting', status: '+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>', bodyBytes: 0 },
  { label: 'capa', status: '+OK', body: 'CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSASL PLAIN LOGIN\r\n', bodyBytes: 54 },
  { label: 'stat', status: '+OK 2 320', bodyBytes: 0 },
  { label: 'uidl', status: '+OK', body: '1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n', bodyBytes: 49 },
  {
    label: 'top',
    status: '+OK 120 octets',
    body: 'Subject: x\r\n\r\n.starts with a dot\r\n.\r\n..\r\n .\r\nends with a dot.\r\n',
    bodyBytes: 61,
  },
  { label: 'top-missing', status: '-ERR [SYS/TEMP] no such message', code: 'SYS/TEMP', bodyBytes: 0 },
  { label: 'list-empty', status: '+OK', body: '', bodyBytes: 0 },
  { label: 'retr', status: '+OK 99 octets', streamed: 'Line 1\r\n.hidden\r\n\r\n', bodyBytes: 19 },
  { label: 'quit', status: '+OK bye', bodyBytes: 0 },
] as Got[]).map((g) => ({ ...g, bodyBytes: Buffer.byteLength(g.body ?? g.streamed ?? '', 'latin1') }));

describe('ResponseReader', () => {
  test('a whole pipelined session in one chunk', () => {
    const { got, errors, reader } = run(SESSION_EXPS, [SESSION]);
    expect(errors).toEqual([]);
    expect(got).toEqual(SESSION_EXPECTED);
    expect(reader.pending).toBe(0);
    expect(reader.buffered).toBe(0);
  });

  test('the same session split at every offset', () => {
    for (let i = 0; i <= SESSION.length; i++) {
      const { got, errors } = run(SESSION_EXPS, splitAt(SESSION, i));
      expect(errors, `split at ${i}`).toEqual([]);
      expect(got, `split at ${i}`).toEqual(SESSION_EXPECTED);
    }
  });

  test('the same session split at every pair of offsets (boundaries inside every terminator)', () => {
    for (let i = 0; i <= SESSION.length; i += 1) {
      for (let j = i; j <= SESSION.length; j += 3) {
        const { got, errors } = run(SESSION_EXPS, splitAt(SESSION, i, j));
        if (errors.length || got.length !== SESSION_EXPECTED.length) {
          expect({ i, j, errors, got }).toEqual({ i, j, errors: [], got: SESSION_EXPECTED });
        }
      }
    }
    // and one full comparison so the loop above cannot pass vacuously
    expect(run(SESSION_EXPS, splitAt(SESSION, 100, 101)).got).toEqual(SESSION_EXPECTED);
  });

  test('the same session one octet at a time', () => {
    const chunks = [...SESSION].map((x) => Buffer.from([x]));
    const { got, errors } = run(SESSION_EXPS, chunks);
    expect(errors).toEqual([]);
    expect(got).toEqual(SESSION_EXPECTED);
  });

  test('answers that arrive before their expectation are held, then matched', () => {
    const got: string[] = [];
    const reader = new ResponseReader({
      onResponse: (res) => got.push(res.status.raw),
      onError: (m) => got.push(`error: ${m}`),
    });
    reader.push(b('+OK one\r\n+OK two\r\n'));
    expect(got).toEqual([]);
    expect(reader.buffered).toBe(18);
    reader.expect({ multiline: false });
    expect(got).toEqual(['+OK one']);
    reader.expect({ multiline: false });
    expect(got).toEqual(['+OK one', '+OK two']);
    expect(reader.buffered).toBe(0);
  });

  test('handlers may queue the next expectation (re-entrant)', () => {
    const got: string[] = [];
    const reader: ResponseReader = new ResponseReader({
      onResponse: (res) => {
        got.push(res.status.raw);
        if (got.length < 3) reader.expect({ multiline: true });
      },
      onError: (m) => got.push(`error: ${m}`),
    });
    reader.expect({ multiline: false });
    reader.push(b('+OK hello\r\n+OK\r\na\r\n.\r\n+OK\r\n.\r\n'));
    expect(got).toEqual(['+OK hello', '+OK', '+OK']);
  });

  describe('dot-unstuffing and terminator', () => {
    const cases: [string, string, string][] = [
      ['empty body', '+OK\r\n.\r\n', ''],
      ['one empty line', '+OK\r\n\r\n.\r\n', '\r\n'],
      ['a ".." line is a single dot', '+OK\r\n..\r\n.\r\n', '.\r\n'],
      ['a "..." line is two dots', '+OK\r\n...\r\n.\r\n', '..\r\n'],
      ['stuffed dot then text', '+OK\r\n..foo\r\n.\r\n', '.foo\r\n'],
      ['dots inside a line stay', '+OK\r\na.b..c.\r\n.\r\n', 'a.b..c.\r\n'],
      ['". " is not the terminator', '+OK\r\n. \r\n.\r\n', ' \r\n'],
      ['".\\rX" is not the terminator', '+OK\r\n.\rX\r\n.\r\n', '\rX\r\n'],
      ['bare LF line ends are accepted', '+OK\nline\n..x\n.\n', 'line\n.x\n'],
      ['8-bit octets pass through', '+OK\r\n\xe9t\xe9\r\n.\r\n', '\xe9t\xe9\r\n'],
      ['a body line like a status line', '+OK\r\n+OK fake\r\n-ERR fake\r\n.\r\n', '+OK fake\r\n-ERR fake\r\n'],
    ];
    test.each(cases)('%s', (_name, wire, body) => {
      for (let i = 0; i <= wire.length; i++) {
        const streamed = run([{ label: 's', multiline: true, stream: true }], splitAt(b(wire), i));
        const collected = run([{ label: 'c', multiline: true }], splitAt(b(wire), i));
        expect(streamed.errors).toEqual([]);
        expect(streamed.got[0]?.streamed ?? '', `split at ${i}`).toBe(body);
        expect(collected.got[0]?.body, `split at ${i}`).toBe(body);
        expect(collected.got[0]?.bodyBytes).toBe(Buffer.byteLength(body, 'latin1'));
      }
    });
  });

  test('-ERR to a multi-line command is a single line, with its response code', () => {
    const { got } = run(
      [
        { label: 'retr', multiline: true, stream: true },
        { label: 'noop', multiline: false },
      ],
      [b('-ERR [IN-USE] Mailbox locked\r\n+OK\r\n')],
    );
    expect(got).toEqual([
      { label: 'retr', status: '-ERR [IN-USE] Mailbox locked', code: 'IN-USE', bodyBytes: 0 },
      { label: 'noop', status: '+OK', bodyBytes: 0 },
    ]);
  });

  test('a SASL continuation is a single line', () => {
    const { got } = run([{ label: 'auth', multiline: false }], [b('+ \r\n')]);
    expect(got).toEqual([{ label: 'auth', status: '+ ', bodyBytes: 0 }]);
  });

  test('a line that is not a status line is a protocol error, and the reader stops', () => {
    const { got, errors, reader } = run(
      [
        { label: 'a', multiline: false },
        { label: 'b', multiline: false },
      ],
      [b('* OK IMAP4rev1 ready\r\n+OK\r\n')],
    );
    expect(got).toEqual([]);
    expect(errors).toEqual(['not a POP3 status line: "* OK IMAP4rev1 ready"']);
    expect(reader.hasFailed).toBe(true);
  });

  test('an endless status line is cut off', () => {
    const reader = new ResponseReader({ onResponse: () => undefined, onError: (m) => errors.push(m) }, { maxLineLength: 100 });
    const errors: string[] = [];
    reader.expect({ multiline: false });
    for (let i = 0; i < 20 && errors.length === 0; i++) reader.push(Buffer.alloc(10, 0x41));
    expect(errors).toEqual(['status line longer than 100 octets']);
  });

  test('a flood of unsolicited data is an error', () => {
    const errors: string[] = [];
    const reader = new ResponseReader({ onResponse: () => undefined, onError: (m) => errors.push(m) }, { maxLineLength: 100 });
    reader.push(Buffer.alloc(50, 0x41));
    expect(errors).toEqual([]);
    reader.push(Buffer.alloc(60, 0x41));
    expect(errors).toEqual(['unsolicited data from the server (110 octets with no command pending)']);
  });

  test('a huge body is streamed without being buffered (64 MiB, awkward chunk sizes)', () => {
    const LINE = 997; // octets per line before CRLF; chunks of 65521 put boundaries everywhere
    const TOTAL_LINES = Math.ceil((64 * 1024 * 1024) / (LINE + 2));
    const expectedHash = createHash('sha256');
    const gotHash = createHash('sha256');
    let streamed = 0;
    let maxHeld = 0;
    let done: Pop3Response | undefined;
    const reader = new ResponseReader({
      onResponse: (res) => {
        done = res;
      },
      onError: (m) => {
        throw new Error(m);
      },
    });
    reader.expect({
      multiline: true,
      onChunk: (c) => {
        streamed += c.length;
        gotHash.update(c);
      },
    });
    // Wire: every 7th line starts with a dot (stuffed on the wire).
    let pending: Buffer[] = [b('+OK huge\r\n')];
    let pendingLen = pending[0]!.length;
    const CHUNK = 65521;
    const flush = (all: boolean) => {
      while (pendingLen >= CHUNK || (all && pendingLen > 0)) {
        const joined = Buffer.concat(pending);
        const n = Math.min(CHUNK, joined.length);
        reader.push(joined.subarray(0, n));
        maxHeld = Math.max(maxHeld, reader.buffered);
        pending = [joined.subarray(n)];
        pendingLen = joined.length - n;
      }
    };
    for (let i = 0; i < TOTAL_LINES; i++) {
      const content = Buffer.alloc(LINE, 0x61 + (i % 26));
      if (i % 7 === 0) content[0] = 0x2e;
      const original = Buffer.concat([content, b('\r\n')]);
      expectedHash.update(original);
      const wire = i % 7 === 0 ? Buffer.concat([b('.'), original]) : original;
      pending.push(wire);
      pendingLen += wire.length;
      flush(false);
    }
    pending.push(b('.\r\n'));
    pendingLen += 3;
    flush(true);
    expect(done).toBeDefined();
    expect(done?.body).toBeUndefined();
    expect(done?.bodyBytes).toBe(TOTAL_LINES * (LINE + 2));
    expect(streamed).toBe(TOTAL_LINES * (LINE + 2));
    expect(gotHash.digest('hex')).toBe(expectedHash.digest('hex'));
    // Between pushes the reader holds at most the 2 octets of a possible terminator (".\r").
    expect(maxHeld).toBeLessThanOrEqual(2);
  });
});

describe('bodyLines', () => {
  test.each([
    ['', []],
    ['a\r\n', ['a']],
    ['a\r\nb\r\n', ['a', 'b']],
    ['a\nb', ['a', 'b']],
    ['\r\n', ['']],
  ] as [string, string[]][])('%j', (body, lines) => {
    expect(bodyLines(b(body))).toEqual(lines);
  });
});

describe('parseCapabilities', () => {
  test('a typical list', () => {
    const caps = parseCapabilities(['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'STLS', 'USER', 'SASL PLAIN LOGIN', 'IMPLEMENTATION Example 1.0', 'EXPIRE NEVER', 'LOGIN-DELAY 900']);
    expect(caps).toMatchObject({
      stls: true,
      user: true,
      top: true,
      uidl: true,
      pipelining: true,
      respCodes: true,
      authRespCode: true,
      sasl: ['PLAIN', 'LOGIN'],
      implementation: 'Example 1.0',
      expire: 'NEVER',
      loginDelay: '900',
    });
    expect(caps.names).toContain('SASL');
  });

  test('a bare list', () => {
    const caps = parseCapabilities(['top', 'SASL']);
    expect(caps).toMatchObject({ stls: false, user: false, top: true, pipelining: false, sasl: [] });
    expect(caps.implementation).toBeUndefined();
  });
});

describe('APOP', () => {
  test('digest: the RFC 1939 example', () => {
    expect(apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf')).toBe('c4c9334bac560ecc979e58001b3e22fb');
  });

  test.each([
    ['POP3 server ready <1896.697170952@dbc.mtview.ca.us>', '<1896.697170952@dbc.mtview.ca.us>'],
    ['Dovecot (Debian) ready.', undefined],
    ['ready <abc.123@host> extra', '<abc.123@host>'],
    ['ready <> nothing', undefined],
    ['ready < not one >', undefined],
  ])('challenge in %j', (greeting, challenge) => {
    expect(apopChallengeOf(greeting)).toBe(challenge);
  });
});
