/**
 * Our read-only SQLite reader against files written by SQLite itself (sql.js): deep B-trees (small
 * pages), rows spilling into overflow pages, UTF-16 text, every value type, short records after
 * ALTER TABLE ADD COLUMN, and damaged files that must fail cleanly instead of looping.
 */
import initSqlJs from 'sql.js';
import { describe, expect, it } from 'vitest';
import { columnNames, openSqlite, SqliteFormatError } from '../../src/tokens/sqlite-file.js';

async function build(pragmas: string[], statements: Array<[string, unknown[]?]>): Promise<{ bytes: Buffer; expected: unknown[][] }> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  for (const p of pragmas) db.run(p);
  for (const [sql, params] of statements) db.run(sql, params as never);
  const expected = (db.exec('SELECT * FROM T ORDER BY rowid')[0]?.values ?? []).map((r) => r.map((v) => (v instanceof Uint8Array ? Buffer.from(v) : v)));
  const bytes = Buffer.from(db.export());
  db.close();
  return { bytes, expected };
}

describe('openSqlite', () => {
  it('reads a deep B-tree with overflow pages exactly as SQLite wrote it', async () => {
    const rows: Array<[string, unknown[]]> = [];
    for (let i = 0; i < 3000; i++) rows.push(['INSERT INTO T VALUES (?, ?, ?, ?)', [`tok-${i}`, i % 97 === 0 ? 'x'.repeat(5000 + i) : `mailto:a${i}@example.test`, i * 1000003, i / 7]]);
    const { bytes, expected } = await build(['PRAGMA page_size = 512'], [['CREATE TABLE T (A text, B text, C integer, D real)'], ['BEGIN'], ...rows, ['COMMIT']]);
    const got = openSqlite(bytes).rows('T');
    expect(got.length).toBe(3000);
    expect(got).toEqual(expected);
  });

  it('UTF-16 text, NULL, blobs, large integers, and rows written before ADD COLUMN', async () => {
    const { bytes, expected } = await build(
      ["PRAGMA encoding = 'UTF-16be'"],
      [
        ['CREATE TABLE T ("quoted name" text, B blob, C integer)'],
        ['INSERT INTO T VALUES (?, ?, ?)', ['Grüße 日本', new Uint8Array([1, 2, 3]), 9007199254740991]],
        ['INSERT INTO T VALUES (NULL, NULL, -5)'],
        ['ALTER TABLE T ADD COLUMN D text'],
        ['INSERT INTO T VALUES (?, NULL, 0, ?)', ['x', 'late']],
      ],
    );
    const f = openSqlite(bytes);
    expect(f.columns('T')).toEqual(['quoted name', 'B', 'C', 'D']);
    expect(f.rows('T')).toEqual(expected);
    expect(f.rows('T')[0]![3]).toBeNull();
  });

  it('a damaged file fails with SqliteFormatError, never a hang', async () => {
    const { bytes } = await build(['PRAGMA page_size = 512'], [['CREATE TABLE T (A text)'], ...Array.from({ length: 200 }, (_, i): [string, unknown[]] => ['INSERT INTO T VALUES (?)', [`row ${i} ${'y'.repeat(40)}`]])]);
    expect(openSqlite(bytes).rows('T')).toHaveLength(200);
    const broken = Buffer.from(bytes);
    // The table's root is page 2 (the first table created); make its right child point at itself.
    const base = 512;
    expect(broken[base]).toBe(0x05);
    broken.writeUInt32BE(2, base + 8);
    expect(() => openSqlite(broken).rows('T')).toThrow(SqliteFormatError);
    expect(() => openSqlite(bytes.subarray(0, 700)).rows('T')).toThrow(SqliteFormatError);
    expect(() => openSqlite(Buffer.from('SQLite format 3\u0000' + '\u0000'.repeat(200)))).toThrow(SqliteFormatError);
  });

  it('column names from CREATE TABLE, constraints left out', () => {
    expect(columnNames('create table TOKENS (\n TOKEN text, ORGANIZER text, ATTENDEE text, ICALUID text, DATESTAMP date\n)')).toEqual(['TOKEN', 'ORGANIZER', 'ATTENDEE', 'ICALUID', 'DATESTAMP']);
    expect(columnNames('CREATE TABLE x (a numeric(10, 2), b text, PRIMARY KEY (a, b), CONSTRAINT c UNIQUE (b))')).toEqual(['a', 'b']);
  });
});
