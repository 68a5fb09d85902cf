/** `imip --help` stays instant: it must not load nodemailer, imapflow, ical.js or the database drivers (pg, sql.js). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const TRACE = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));

function loaded(args: string[]): string[] {
  const file = join(tempDir(), 'trace');
  const r = spawnSync(process.execPath, ['--import', TRACE, BIN, ...args], { env: { ...process.env, IMIP_TRACE_FILE: file }, encoding: 'utf8' });
  expect(r.status).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

describe('startup', () => {
  for (const args of [['--help'], ['--version'], ['check-config', '--help'], ['poll', '--help'], ['send-test', '--help'], ['tokens', '--help']]) {
    it(`imip ${args.join(' ')} loads no heavy module`, () => {
      const urls = loaded(args);
      expect(urls.some((u) => u.includes('/dist/cli.js'))).toBe(true);
      for (const heavy of ['nodemailer', 'imapflow', 'ical.js', '/node_modules/pg/', '/node_modules/sql.js/', '/dist/tokens/', '/dist/commands/']) {
        expect(urls.filter((u) => u.includes(heavy))).toEqual([]);
      }
    });
  }
});

describe('a run builds only the command it names', () => {
  // The help a command prints is its whole definition: built alone, as `imip CMD` builds it, it
  // is the same as in the program with every command.
  const all = buildProgram();
  for (const cmd of all.commands) {
    it(`imip ${cmd.name()} has the same flags, arguments and help as in the whole program`, () => {
      const alone = buildProgram(['node', 'imip', cmd.name()]);
      expect(alone.commands.map((c) => c.name())).toEqual([cmd.name()]);
      expect(alone.commands[0]!.helpInformation()).toBe(cmd.helpInformation());
    });
  }

  it('builds no command for imip --version alone', () => {
    expect(buildProgram(['node', 'imip', '--version']).commands).toEqual([]);
    expect(buildProgram(['node', 'imip', '-V']).commands).toEqual([]);
  });

  it('builds every command for the program\'s own help and for a name it does not know', () => {
    const names = all.commands.map((c) => c.name());
    expect(names.length).toBeGreaterThan(5);
    for (const argv of [['node', 'imip'], ['node', 'imip', '--help'], ['node', 'imip', 'help', 'poll'], ['node', 'imip', 'check-confg']]) {
      expect(buildProgram(argv).commands.map((c) => c.name())).toEqual(names);
    }
  });
});
