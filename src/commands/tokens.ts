/**
 * `imip tokens`: read the server's token store (read-only). Thin: flags → src/tokens (load, report)
 * → src/tokens/render. Exit from the findings: 0 none but notes; 1 an error or warning (the token
 * not accepted, no match, store problems); 2: the store (or the config) could not be read.
 */
import { CannotRunError, EXIT_CANNOT_RUN } from '../report/exit.js';
import { defaultServerVersion, parseServerVersion, type ServerVersion } from '../server/release.js';
import { colours, docSinkActive, loadForCommand, outputOptions, printJson, versionJson, versionLine, type SharedFlags } from './shared.js';
import type { PlistDict } from '../config/plist-xml.js';
import { printable } from '../report/terminal-text.js';

export interface TokensFlags extends SharedFlags {
  attendee?: string;
  organizer?: string;
  uid?: string;
  timeout?: string;
  tokenStore?: string;
}

export async function run(flags: TokensFlags, args: string[] = []): Promise<number> {
  // An empty value (an unset shell variable) is a mistake, never "not given": without this check
  // `--attendee ''` would fall back to the statistics and `--config ''` to another config.
  if (args.some((a) => typeof a === 'string' && !a.trim())) throw new CannotRunError('TOKEN is empty; give the token to look up, or leave it out for the statistics');
  for (const [flag, value, what] of [
    ['--attendee', flags.attendee, 'an address'],
    ['--organizer', flags.organizer, 'an organizer (mailto:, urn:uuid:, urn:x-uid:)'],
    ['--uid', flags.uid, "an event's UID"],
    ['--token-store', flags.tokenStore, 'a SQLite file or a postgres:// URL'],
    ['--config', flags.config, 'the path of caldavd.plist'],
  ] as const) {
    if (value !== undefined && !value.trim()) throw new CannotRunError(`${flag} is empty; give ${what}`);
  }
  const token = args.find((a) => typeof a === 'string' && a.length > 0);
  if (token && (flags.attendee || flags.organizer || flags.uid)) {
    throw new CannotRunError('give either a TOKEN or --attendee/--organizer/--uid, not both');
  }
  const seconds = flags.timeout === undefined ? 15 : Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new CannotRunError(`--timeout: "${flags.timeout}" is not a number of seconds between 0 and 3600`);
  const out = outputOptions(flags);
  const c = await colours(out);

  let effective: PlistDict | null = null;
  let version: ServerVersion;
  let configPath: string | null = null;
  try {
    const loaded = await loadForCommand(flags);
    effective = loaded.ctx.config.effective;
    version = loaded.ctx.version;
    configPath = loaded.configPath;
  } catch (e) {
    // With --token-store the config is not needed to find the store, unless --config named one:
    // a config given but unreadable is exit 2, as in every command (never a silent default).
    if (!(e instanceof CannotRunError) || !flags.tokenStore || flags.config !== undefined) throw e;
    version = flags.serverVersion ? parseServerVersion(flags.serverVersion) : defaultServerVersion();
  }

  const { loadServerStore } = await import('../tokens/load.js');
  const store = await loadServerStore({ effective, version, override: flags.tokenStore, timeoutMs: seconds * 1000 });
  const head = { command: 'tokens', serverVersion: versionJson(version), config: configPath };
  if (!store.snapshot) {
    // A monitoring format: a run that could not check is UNKNOWN (Nagios), with the reason.
    if (docSinkActive()) throw new CannotRunError(`the token store could not be read: ${store.info.error ?? 'unknown error'}${store.info.fix ? `. Fix: ${store.info.fix}` : ''}`);
    if (out.json) printJson({ ...head, store: store.info, findings: store.findings });
    else {
      process.stderr.write(`imip: the token store could not be read: ${printable(store.info.error ?? 'unknown error')}\n`);
      if (store.info.fix) process.stderr.write(`imip: fix: ${printable(store.info.fix)}\n`);
    }
    return EXIT_CANNOT_RUN;
  }
  const { tokensReport, tokensExit } = await import('../tokens/report.js');
  const query = {
    ...(token ? { token } : {}),
    ...(flags.attendee ? { attendee: flags.attendee } : {}),
    ...(flags.organizer ? { organizer: flags.organizer } : {}),
    ...(flags.uid ? { uid: flags.uid } : {}),
  };
  const report = tokensReport(query, store, version, new Date());
  if (out.json) {
    const { command: _c, ...rest } = report;
    printJson({ ...head, ...rest });
  } else {
    const { renderTokens } = await import('../tokens/render.js');
    const title = [`${c.bold('imip tokens')}  ${configPath ?? '(no config)'}`, c.dim(versionLine(version))];
    process.stdout.write(renderTokens(report, c, { verbose: out.verbose, quiet: out.quiet, header: title }));
  }
  return tokensExit(report);
}
