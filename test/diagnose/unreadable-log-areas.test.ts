/**
 * A ✓ is earned: a log given with --log that could not be read (binary, missing, a directory)
 * tests nothing, so Replies (and Injection on 2.x–4.x) stay "not tested" rather than ✓ with
 * "log: 0 … 0 injected".
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/plist.js';
import { runDiagnose } from '../fixtures/diagnose/helpers.js';

const area = (r: Awaited<ReturnType<typeof runDiagnose>>, id: string) => r.areas.find((a) => a.area === id)!;

describe('diagnose --log with a log that could not be read', () => {
  it('a binary log leaves Replies not tested (9.2), and Injection not tested by it (2.5)', async () => {
    const dir = tempDir('imip-unreadable-log-');
    const bin = join(dir, 'error.log');
    writeFileSync(bin, Buffer.from([0, 1, 2, 3, 0, 0, 0xff, 0x10, 0]));
    const r = await runDiagnose({ version: '9.2', offline: true, logs: [bin] });
    expect(r.findings.map((f) => f.id)).toContain('diagnose.input-unreadable');
    expect(area(r, 'replies')).toMatchObject({ status: 'not-tested', tested: false });
    expect(area(r, 'replies').summary).not.toMatch(/log: 0/);

    const old = await runDiagnose({ version: '2.5', offline: true, logs: [join(dir, 'missing.log')] });
    expect(area(old, 'replies')).toMatchObject({ status: 'not-tested', tested: false });
    expect(area(old, 'injection').summary).not.toMatch(/log: 0 "injection principal not found"/);
  });

  it('a readable log next to an unreadable one still counts as read', async () => {
    const dir = tempDir('imip-unreadable-log-');
    const good = join(dir, 'good.log');
    writeFileSync(good, '2016-05-10T12:00:00+0000 [txdav.caldav.datastore.scheduling.imip.inbound#info] Successfully injected iMIP response from mailto:a@remote.test to urn:x-uid:1\n');
    const r = await runDiagnose({ version: '9.2', offline: true, logs: [join(dir, 'missing.log'), good] });
    expect(area(r, 'replies')).toMatchObject({ status: 'ok', tested: true });
    expect(area(r, 'replies').summary).toMatch(/log: 0 "didn't find a token", 1 injected/);
  });
});

describe('diagnose --log with lines too long to read', () => {
  it('says how many lines over 1 MiB it skipped, in the log\'s own line', async () => {
    const dir = tempDir('imip-long-log-');
    const log = join(dir, 'error.log');
    writeFileSync(log, `2016-03-02 10:00:00+0000 [-] IMAP login failed for a\n${'x'.repeat(2 * 1024 * 1024)}\n2016-03-02 10:00:02+0000 [-] IMAP login failed for b\n`);
    const r = await runDiagnose({ version: '9.2', offline: true, logs: [log] });
    const input = r.inputs.find((i) => i.kind === 'log')!;
    expect(input.detail).toMatch(/, 2 recognised, 1 line over 1 MiB skipped unread$/);
  });
});
