// A generated Calendar Server error.log for the log-scan benchmark: twistd-style lines of the
// server's everyday noise (HTTP requests, directory refreshes, work queue), and every 1,000th line
// one of the iMIP lines `imip diagnose --log` recognises (taken from the test fixtures' logs).
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = path.join(ROOT, 'test/fixtures/diagnose/logs');

const NOISE = [
  '[caldav-1]  [-] [twistedcaldav.method.report_common#info] REPORT /calendars/__uids__/{u}/calendar/ (calendar-query) 207 in {n} ms',
  '[caldav-0]  [-] [txweb2.channel.http#info] 10.0.{n}.{m} - user{m} [02/Mar/2016:10:00:{s} +0000] "PROPFIND /principals/__uids__/{u}/ HTTP/1.1" 207 {n} "-" "CalendarStore/5.0.3 (1109.3); iCal/5.0.3 (1605.4); Mac OS X/10.7.5 (11G63)" i=3 or=1',
  '[caldav-1]  [-] [twext.enterprise.queue#info] Performing work item {n} of type txdav.caldav.datastore.scheduling.work.ScheduleRefreshWork',
  '[caldav-0]  [-] [twistedcaldav.directory.augment#debug] Augment record for {u} loaded from database',
  '[caldav-1]  [-] [txdav.common.datastore.sql#info] Home child calendar for {u} has {n} resources',
  '[caldav-0]  [-] [twistedcaldav.memcacher#debug] Memcache miss for key {u}-{n}',
];

function imipLines() {
  const out = [];
  for (const f of ['error-2x.log', 'error-4x.log', 'error-9x.log']) {
    for (const line of readFileSync(path.join(FIX, f), 'utf8').split('\n')) {
      const m = /^\S+ \S+ \[-\] (.*)$/.exec(line);
      if (m && /Mail gateway|iMIP|IMAP|POP|injection|inject/.test(m[1])) out.push(m[1]);
    }
  }
  return out;
}

/** Write about `bytes` of log to `file`; resolves with the line count and the iMIP line count. */
export async function writeLog(file, bytes) {
  const imip = imipLines();
  const ws = createWriteStream(file, { highWaterMark: 1 << 20 });
  let written = 0;
  let lines = 0;
  let hits = 0;
  let i = 0;
  const start = Date.UTC(2016, 2, 2, 10, 0, 0);
  while (written < bytes) {
    let chunk = '';
    for (let k = 0; k < 4000; k++, i++) {
      const ts = new Date(start + i * 37).toISOString().replace('T', ' ').slice(0, 19);
      let body;
      if (i % 1000 === 999) {
        body = `[caldav-1]  [-] ${imip[hits++ % imip.length]}`;
      } else {
        body = NOISE[i % NOISE.length].replace(/\{u\}/g, `${(i * 2654435761) >>> 0}`.padStart(10, '0')).replace(/\{n\}/g, String(i % 997)).replace(/\{m\}/g, String(i % 251)).replace(/\{s\}/g, String(i % 60).padStart(2, '0'));
      }
      chunk += `${ts}+0000 [-] ${body}\n`;
      lines++;
    }
    written += Buffer.byteLength(chunk);
    if (!ws.write(chunk)) await new Promise((r) => ws.once('drain', r));
  }
  await new Promise((r) => ws.end(r));
  return { bytes: written, lines, imipLines: hits };
}
