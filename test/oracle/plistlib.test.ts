/**
 * Differential test: the XML plist reader against CPython's plistlib, which is what the server
 * reads caldavd.plist with (every release, Python 2.7 `plistlib.readPlist` on expat). Hand-written
 * cases plus 500 generated ones (fixed seed), each fed to both; the answers must agree: the same
 * value, or both a rejection.
 *
 * Python 3's plistlib differs from the 2.7 one the server runs; where it does, the case is tagged
 * with the difference and the reader follows 2.7 (checked against a Python 2.7 interpreter when
 * one is found):
 * - 2.7 `int()` takes no `0x1F` and no `1_000` in an <integer>, and `float()` no `1_0.5`; 3.x does;
 * - 2.7 ignores elements it has no handler for, and drops a <key> that gets no value; 3.x rejects both.
 */
import { describe, expect, it } from 'vitest';
import { parseXmlPlist, type PlistValue } from '../../src/config/plist-xml.js';
import { decodeXmlBytes } from '../../src/config/xml-tokens.js';
import { NO_PYTHON_REASON, PYTHON2, PYTHON3, rng, runPython } from '../helpers/python.js';

const SCRIPT = String.raw`
import sys, json, base64, datetime, math, plistlib
PY2 = sys.version_info[0] == 2
def conv(v):
    if isinstance(v, bool): return v
    if isinstance(v, dict): return dict((k if not PY2 or isinstance(k, unicode) else k.decode('utf-8'), conv(x)) for k, x in v.items())
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, datetime.datetime): return {'date': '%04d-%02d-%02dT%02d:%02d:%02dZ' % (v.year, v.month, v.day, v.hour, v.minute, v.second)}
    if isinstance(v, float):
        if math.isnan(v): return {'num': 'nan'}
        if math.isinf(v): return {'num': 'inf' if v > 0 else '-inf'}
        return {'num': v}
    if not PY2 and isinstance(v, bytes): return {'data': base64.b64encode(v).decode('ascii')}
    if PY2 and isinstance(v, plistlib.Data): return {'data': base64.b64encode(v.data)}
    if isinstance(v, (int, float)) or (PY2 and isinstance(v, long)): return {'num': v}
    if PY2 and isinstance(v, str): return v.decode('utf-8')
    return v
for doc in json.loads(sys.stdin.read()):
    raw = base64.b64decode(doc)
    try:
        v = plistlib.readPlistFromString(raw) if PY2 else plistlib.loads(raw, fmt=plistlib.FMT_XML)
        out = {'error': 'no value'} if v is None else {'ok': conv(v)}
    except Exception as e:
        out = {'error': type(e).__name__}
    print(json.dumps(out))
`;

type Answer = { ok: unknown } | { error: string };

function conv(v: PlistValue): unknown {
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return { num: Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v };
  if (v instanceof Date) return { date: v.toISOString().replace(/\.\d{3}Z$/, 'Z') };
  if (v instanceof Uint8Array) return { data: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(conv);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, conv(x)]));
}

function ours(doc: Buffer): Answer {
  try {
    return { ok: conv(parseXmlPlist(decodeXmlBytes(doc)).value) };
  } catch (e) {
    return { error: (e as Error).name };
  }
}

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n';
const wrap = (body: string, head = HEAD): string => `${head}${body}\n</plist>\n`;

interface Case {
  name: string;
  doc: Buffer;
  /** Python 3 answers differently from the 2.7 the server runs: the difference, in words. */
  py3Differs?: string;
}

const HEX_INT = 'Python 3 plistlib reads 0x.. integers; 2.7 int() does not';
const UNDERSCORE = 'Python 3 int()/float() accept "_" between digits; 2.7 does not';
const DANGLING = 'Python 3 plistlib rejects a <key> without a value; 2.7 drops it';
const UNKNOWN_EL = 'Python 3 plistlib rejects an element it does not know; 2.7 ignores it';

const HAND: Case[] = [
  ['a raw & in a password', '<dict><key>Password</key><string>p&ss</string></dict>'],
  ['&amp; in a password', '<dict><key>Password</key><string>p&amp;ss</string></dict>'],
  [']]> in text', '<dict><key>a</key><string>x]]>y</string></dict>'],
  ['-- inside a comment', '<!-- a -- b --><dict/>'],
  ['a comment', '<!-- fine --><dict/>'],
  ['&#0;', '<dict><key>a</key><string>&#0;</string></dict>'],
  ['&#x110000;', '<dict><key>a</key><string>&#x110000;</string></dict>'],
  ['&#xD800;', '<dict><key>a</key><string>&#xD800;</string></dict>'],
  ['&#65;&#x263A;', '<dict><key>a</key><string>&#65;&#x263A;</string></dict>'],
  ['an undefined entity with the DOCTYPE', '<dict><key>a</key><string>x&foo;y</string></dict>'],
  ['a raw control character', '<dict><key>a</key><string>\u0001</string></dict>'],
  ['CDATA', '<dict><key>a</key><string><![CDATA[<&>]]></string></dict>'],
  ['mismatched tags', '<dict><key>a</key><string>x</strin></dict>'],
  ['an integer with spaces', '<dict><key>a</key><integer> 12 </integer></dict>'],
  ['a signed integer', '<dict><key>a</key><integer>-7</integer></dict>'],
  ['a real nan', '<dict><key>a</key><real>nan</real></dict>'],
  ['a real 1e3', '<dict><key>a</key><real>1e3</real></dict>'],
  ['a date', '<dict><key>a</key><date>2020-01-02T03:04:05Z</date></dict>'],
  ['a short date', '<dict><key>a</key><date>2020-01Z</date></dict>'],
  ['a date without Z', '<dict><key>a</key><date>2020-01-02T03:04:05</date></dict>'],
  ['month 13', '<dict><key>a</key><date>2020-13-02T03:04:05Z</date></dict>'],
  ['data', '<dict><key>a</key><data>\n  aGVsbG8=\n</data></dict>'],
  ['data without padding', '<dict><key>a</key><data>aGVsbG8</data></dict>'],
  ['a value without a key', '<dict><string>x</string></dict>'],
  ['a key in an array', '<array><key>a</key><string>x</string></array>'],
  ['two values', '<string>x</string><string>y</string>'],
  ['empty elements', '<dict><key>a</key><string/><key>b</key><array/><key>c</key><dict/><key>d</key><true/></dict>'],
  ['attributes', '<dict><key id="1">a</key><string class="x">y</string></dict>'],
  ['an attribute with <', '<dict><key id="<">a</key><string>y</string></dict>'],
  ['an attribute twice', '<dict><key id="1" id="2">a</key><string>y</string></dict>'],
  ['a processing instruction inside', '<dict><?foo bar?><key>a</key><string>y</string></dict>'],
  ['duplicate keys', '<dict><key>a</key><string>1</string><key>a</key><string>2</string></dict>'],
].map(([name, body]) => ({ name: name!, doc: Buffer.from(wrap(body!)) }));

HAND.push(
  { name: 'a hex integer', doc: Buffer.from(wrap('<dict><key>a</key><integer>0x1F</integer></dict>')), py3Differs: HEX_INT },
  { name: 'an integer with _', doc: Buffer.from(wrap('<dict><key>a</key><integer>1_000</integer></dict>')), py3Differs: UNDERSCORE },
  { name: 'a key without a value', doc: Buffer.from(wrap('<dict><key>a</key></dict>')), py3Differs: DANGLING },
  { name: 'an unknown element', doc: Buffer.from(wrap('<dict><key>a</key><strng>x</strng></dict>')), py3Differs: UNKNOWN_EL },
  { name: 'no DOCTYPE, undefined entity', doc: Buffer.from('<plist><string>&foo;</string></plist>') },
  { name: 'no plist element', doc: Buffer.from('<dict><key>a</key><string>b</string></dict>') },
  { name: 'empty plist', doc: Buffer.from('<plist></plist>') },
  { name: 'XML declaration not first', doc: Buffer.from(`\n${HEAD}<dict/></plist>`) },
  { name: 'text after the root', doc: Buffer.from(`${wrap('<dict/>')}junk`) },
  { name: 'a second root', doc: Buffer.from(`${wrap('<dict/>')}<plist/>`) },
  { name: 'not XML at all', doc: Buffer.from('{ Password = "SndPw/secret"; }') },
  { name: 'a byte that is not UTF-8', doc: Buffer.concat([Buffer.from(wrap('<string>a').slice(0, -10)), Buffer.from([0xff]), Buffer.from('</string>\n</plist>\n')]) },
  { name: 'Latin-1 declared', doc: Buffer.concat([Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><plist><string>caf'), Buffer.from([0xe9]), Buffer.from('</string></plist>')]) },
  { name: 'a byte-order mark', doc: Buffer.from(`\uFEFF${wrap('<string>x</string>')}`) },
);

// ---- generated cases ---------------------------------------------------------------------------

const R = rng(20261204);
const TEXT = ['a', 'Z', ' ', 'é', '☺', '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#65;', '\n', 'mailto:', '@', '+', '.', '/'];
function text(): string {
  let s = '';
  for (let i = R.int(8); i > 0; i--) s += R.pick(TEXT);
  return s;
}
function scalar(): string {
  switch (R.int(9)) {
    case 0:
      return `<string>${text()}</string>`;
    case 1:
      return `<integer>${R.pick(['0', '587', '-1', '65535', ' 42 ', '+3', '99999999'])}</integer>`;
    case 2:
      return `<real>${R.pick(['1.5', '-0.25', '1e3', '3', 'inf', '-1.5E-2'])}</real>`;
    case 3:
      return R.pick(['<true/>', '<false/>', '<true></true>']);
    case 4:
      return `<date>${R.pick(['2020-01-02T03:04:05Z', '1999-12-31T23:59:59Z', '2024-02-29T00:00:00Z', '2021Z'])}</date>`;
    case 5:
      return `<data>${R.pick(['', 'aGVsbG8=', 'AAEC\n  AwQ=', 'SGk='])}</data>`;
    case 6:
      return '<string/>';
    default:
      return `<string>${text()}</string>`;
  }
}
function value(depth: number): string {
  const r = R.int(depth > 2 ? 1 : 4);
  if (r === 1) return dict(depth + 1);
  if (r === 2) return `<array>${Array.from({ length: R.int(4) }, () => value(depth + 1)).join('\n')}</array>`;
  return scalar();
}
function dict(depth: number): string {
  const keys = Array.from({ length: R.int(5) }, () => `<key>${R.pick(['Enabled', 'Port', 'Server', 'a', 'Pass&amp;word', 'k é', ''])}${R.int(3)}</key>\n${value(depth)}`);
  return `<dict>\n${keys.join('\n')}\n</dict>`;
}

type Mutation = [string, (doc: string) => string, string?];
const at = (doc: string, what: string): string => {
  const i = doc.indexOf('<string>');
  return i < 0 ? doc : doc.slice(0, i + 8) + what + doc.slice(i + 8);
};
const MUTATIONS: Mutation[] = [
  ['raw &', (d) => at(d, 'p&ss')],
  ['bad char ref', (d) => at(d, R.pick(['&#0;', '&#x110000;', '&#1;', '&#xFFFE;', '&#xD800;']))],
  ['good char ref', (d) => at(d, R.pick(['&#9;', '&#x10FFFF;', '&#xE000;']))],
  [']]>', (d) => at(d, ']]>')],
  ['control char', (d) => at(d, R.pick(['\u0001', '\u0008', '\u001f', '\t']))],
  ['-- in comment', (d) => d.replace('<plist version="1.0">', '<plist version="1.0"><!-- a--b -->')],
  ['comment', (d) => d.replace('</plist>', '<!-- end --></plist>')],
  ['drop a close tag', (d) => d.replace(/<\/(string|dict|array|key)>/, '')],
  ['swap a close tag', (d) => d.replace('</string>', '</strng>')],
  ['cut the file', (d) => d.slice(0, Math.max(1, R.int(d.length)))],
  ['text after root', (d) => `${d}x`],
  ['bad integer', (d) => d.replace(/<integer>[^<]*<\/integer>/, `<integer>${R.pick(['abc', '', '1.5', '1 2', '--1'])}</integer>`)],
  ['bad real', (d) => d.replace(/<real>[^<]*<\/real>/, `<real>${R.pick(['abc', '', '1..2', 'e5'])}</real>`)],
  ['bad date', (d) => d.replace(/<date>[^<]*<\/date>/, `<date>${R.pick(['2020-01-02', 'now', '2020-02-30T00:00:00Z', ' 2020Z'])}</date>`)],
  ['bad data', (d) => d.replace(/<data>[^<]*<\/data>/, `<data>${R.pick(['a', 'ab=c', '!!!!', 'YWJj'])}</data>`)],
  ['value without key', (d) => d.replace('<dict>', '<dict><string>x</string>')],
  ['entity', (d) => at(d, '&undefined;')],
  ['attribute', (d) => d.replace('<string>', '<string lang="en">')],
  ['bad attribute', (d) => d.replace('<string>', R.pick(['<string a=1>', '<string a="<">', '<string a="1"a="2">']))],
  ['hex integer', (d) => d.replace(/<integer>[^<]*<\/integer>/, '<integer>0x1f</integer>'), HEX_INT],
  ['dangling key', (d) => d.replace('</dict>', '<key>lonely</key></dict>'), DANGLING],
];

function generated(): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < 500; i++) {
    let doc = wrap(value(0));
    let py3Differs: string | undefined;
    const n = R.int(3);
    const names: string[] = [];
    for (let j = 0; j < n; j++) {
      const [name, f, diff] = R.pick(MUTATIONS);
      const next = f(doc);
      if (next !== doc && diff) py3Differs = diff;
      doc = next;
      names.push(name);
    }
    out.push({ name: `#${i} ${names.join(' + ') || 'valid'}`, doc: Buffer.from(doc), ...(py3Differs ? { py3Differs } : {}) });
  }
  return out;
}

const CASES = [...HAND, ...generated()];

describe.runIf(PYTHON3)('XML plists: this reader and CPython plistlib agree', () => {
  const py3 = PYTHON3 ? runPython<Answer>(PYTHON3, SCRIPT, CASES.map((c) => c.doc.toString('base64'))) : [];
  const py2 = PYTHON2 ? runPython<Answer>(PYTHON2, SCRIPT, CASES.map((c) => c.doc.toString('base64'))) : [];

  it(`has hundreds of cases, valid and invalid (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500);
    expect(py3.filter((a) => 'ok' in a).length).toBeGreaterThan(100);
    expect(py3.filter((a) => 'error' in a).length).toBeGreaterThan(100);
  });

  it.each(CASES.map((c, i) => ({ ...c, i })))('$name', ({ doc, py3Differs, i }) => {
    const mine = ours(doc);
    const p3 = py3[i]!;
    if (PYTHON2) expect({ accepted: 'ok' in mine, value: 'ok' in mine ? mine.ok : null }).toEqual({ accepted: 'ok' in py2[i]!, value: 'ok' in py2[i]! ? (py2[i] as { ok: unknown }).ok : null });
    if (py3Differs) return;
    expect({ accepted: 'ok' in mine, value: 'ok' in mine ? mine.ok : null }, doc.toString('latin1')).toEqual({ accepted: 'ok' in p3, value: 'ok' in p3 ? p3.ok : null });
  });
});

if (!PYTHON3) describe('XML plists against CPython', () => {
  it.skip(NO_PYTHON_REASON, () => {});
});
