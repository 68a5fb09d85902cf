/**
 * No output names an internal document or section (issue: "output cites a document admins do not
 * have: §4.2, §11, (§5.3), calendarserver-imip.md, in human text and in JSON evidence"). This scans
 * every id, summary, message, fix, evidence and source the tool can print: the rule tables as the
 * catalog and man page show them, every fixture message classified under every release and
 * protocol, and the commands' human and --json output over the bundled example, the fixtures, the
 * logs and the directory files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FINDING_CATALOG } from '../../src/catalog.js';
import { REPLY_RULES } from '../../src/imip/reply-checks.js';
import { LOG_PATTERNS } from '../../src/diagnose/log-patterns.js';
import { REQUEST_RULES } from '../../src/imip/checklist.js';
import { POLL_POLICY } from '../../src/server/poll-policy.js';
import { TOKEN_CAUSES, tokenCauses } from '../../src/imip/token-causes.js';
import { classify } from '../../src/imip/classify.js';
import { runCli } from '../helpers/cli.js';
import { context, FIXTURE_DIR, parseFixture, RELEASES, SENDING_ADDRESS } from '../imip/message-fixtures.js';
import { DIRS, LOGS, MSGS } from '../fixtures/diagnose/helpers.js';

/** A section sign, the reference documents by name, and their private vocabulary. */
const INTERNAL = /§|calendarserver-imip|ecosystem\.md|mailstack\.md|STYLE\.md|\bEra [ABC]\b/;
const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

function clean(what: string, value: unknown): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const hit = INTERNAL.exec(text);
  expect(hit ? `${what}: …${text.slice(Math.max(0, hit.index - 60), hit.index + 40)}…` : null).toBeNull();
}

describe('no output names an internal document or section', () => {
  it('the rule tables: ids, summaries, sources, messages and fixes', () => {
    clean('catalog', FINDING_CATALOG);
    clean('reply rules', REPLY_RULES.map(({ id, source, description, appliesTo }) => ({ id, source, description, appliesTo })));
    clean('log patterns', LOG_PATTERNS.map(({ re: _re, ...p }) => p));
    clean('request rules', REQUEST_RULES);
    clean('poll policy', POLL_POLICY);
    clean('token causes', TOKEN_CAUSES);
  });

  it('every fixture message, every release and protocol: findings, notes, log line, policy', () => {
    const names = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.eml')).map((f) => f.replace(/\.eml$/, ''));
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) {
      const input = parseFixture(name);
      for (const release of RELEASES) {
        for (const protocol of ['imap', 'pop3'] as const) {
          for (const seen of [false, true]) {
            const v = classify(input, context(release, protocol, { seen }));
            clean(`${name} ${release} ${protocol}`, { findings: v.findings, notes: v.notes, logLine: v.logLine, policy: v.policySource, problems: v.problems });
          }
        }
        clean(`${name} ${release} causes`, tokenCauses(input, { sendingAddress: SENDING_ADDRESS, version: context(release, 'imap').version }));
      }
    }
  });

  it('the commands, human and --json, over the example, the fixtures, the logs and the directories', async () => {
    const messages = [
      ...readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.eml')).map((f) => join(FIXTURE_DIR, f)),
      ...readdirSync(MSGS).map((f) => join(MSGS, f)),
    ];
    const logs = readdirSync(LOGS).map((f) => join(LOGS, f));
    const runs: string[][] = [
      ['check-config', EXAMPLE],
      ['check-config', EXAMPLE, '--verbose'],
      ['check-config', '--list-checks'],
      ['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run'],
      ['send-test', EXAMPLE, '--to', 'someone@example.org', '--dry-run', '--server-version', '2.5'],
      ['poll', EXAMPLE, '--server-version', '4.3', '--apply', '--set', 'Receiving.Type=mbox'],
    ];
    const dirs = readdirSync(DIRS);
    ['2.5', '4.3', '9.2'].forEach((version, i) => {
      runs.push(['diagnose', EXAMPLE, '--offline', '--server-version', version, '--message', ...messages, '--log', ...logs, '--directory', join(DIRS, dirs[i % dirs.length]!)]);
      runs.push(['check-config', EXAMPLE, '--server-version', version, '--set', 'Receiving.Port=0', '--set', 'Sending.Address=cal+x@example.com']);
    });
    for (const args of runs) {
      const [human, json] = await Promise.all([runCli([...args, '--verbose', '--no-color']), runCli([...args, '--json'])]);
      for (const r of [human, json]) {
        clean(`imip ${args.join(' ')}`, `${r.stdout}\n${r.stderr}`);
        expect(r.stderr).not.toMatch(/internal error/);
      }
    }
  }, 300_000);

  it('the man page and README say it in words too', () => {
    for (const f of ['../../man/imip.1', '../../README.md']) clean(f, readFileSync(fileURLToPath(new URL(f, import.meta.url)), 'utf8'));
  });
});
