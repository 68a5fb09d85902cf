/** What every command does first: find the config, pick the release, load it as the server would. */
import { featuresOf, parseServerVersion, type ServerVersion } from '../server/release.js';
import { inferServerVersion, locateConfig, toSettings } from '../config/effective.js';
import { withKeychainAccounts } from '../config/keychain.js';
import { loadConfig } from '../config/load.js';
import { readPlistFile } from '../config/plist-file.js';
import { CannotRunError } from '../report/exit.js';
import { loadPalette, wantColor, type OutputOptions } from '../report/style.js';
import type { ConfigContext } from '../checks/rule.js';
import type { ConnectOptions } from '../config/settings.js';
import { readFileSync } from 'node:fs';
import { applyOverrides, overrideText, overridesJson, parseOverrides, type Override } from '../config/overrides.js';

export interface SharedFlags {
  config?: string;
  serverVersion?: string;
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** `--set KEY=VALUE`, repeatable. */
  set?: string[];
}

export interface ConnectFlags {
  timeout?: string;
  caFile?: string;
  insecure?: boolean;
}

export function outputOptions(flags: SharedFlags): OutputOptions {
  return {
    // A monitoring format takes the JSON document (see setDocSink); no human output then.
    json: Boolean(flags.json) || docSink !== null,
    color: !flags.json && wantColor(flags.color),
    quiet: Boolean(flags.quiet),
    verbose: Boolean(flags.verbose),
  };
}

/** The palette for the output: chalk is loaded only when colour is on. */
export function colours(out: OutputOptions) {
  return loadPalette(out.color);
}

export interface LoadedForCommand {
  ctx: ConfigContext;
  configPath: string;
  located: string;
  /** `--set` overrides applied to the effective config, with the values they replaced. */
  overrides: Override[];
}

/** Locate, read, pick the release (given, else inferred), load with includes and defaults. */
export async function loadForCommand(flags: SharedFlags, platform: NodeJS.Platform = process.platform): Promise<LoadedForCommand> {
  const given: ServerVersion | null = flags.serverVersion ? parseServerVersion(flags.serverVersion) : null;
  const wanted = parseOverrides(flags.set ?? []);
  const { path, how } = locateConfig(flags.config);
  const main = readPlistFile(path);
  let version = given ?? inferServerVersion([main]);
  let config = loadConfig(path, version, {}, main);
  if (!given) {
    const again = inferServerVersion(config.parsed);
    if (again.line !== version.line || again.major !== version.major) {
      version = again;
      config = loadConfig(path, version, {}, main);
    }
  }
  const overrides = applyOverrides(config, wanted);
  // On macOS an empty Sending/Receiving Password may come from the System keychain: the
  // connection tests then say the login was not tested rather than that it cannot succeed.
  const settings = withKeychainAccounts(toSettings(config, version), version.line, platform);
  const ctx: ConfigContext = { config, settings, version, features: featuresOf(version), platform };
  return { ctx, configPath: path, located: how, overrides };
}

export function versionJson(v: ServerVersion): Record<string, unknown> {
  return { version: v.text, line: v.line, source: v.source, reason: v.reason };
}

export function versionLine(v: ServerVersion): string {
  return `Judging as Calendar Server ${v.text} (${v.line}): ${v.reason}`;
}

/** `--timeout`, `--ca-file`, `--insecure`. */
export function connectOptions(flags: ConnectFlags): ConnectOptions {
  const seconds = flags.timeout === undefined ? 15 : Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new CannotRunError(`--timeout: "${flags.timeout}" is not a number of seconds between 0 and 3600`);
  }
  let ca: string | undefined;
  if (flags.caFile) {
    try {
      ca = readFileSync(flags.caFile, 'utf8');
    } catch (e) {
      throw new CannotRunError(`--ca-file ${flags.caFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new CannotRunError(`--ca-file ${flags.caFile}: no PEM certificate in it`);
  }
  return { timeoutMs: seconds * 1000, ca, caFile: flags.caFile, insecure: Boolean(flags.insecure) };
}

/**
 * Where the JSON document goes: stdout, unless a monitoring format (`--format nagios|prometheus`)
 * takes it to build its output from the same data.
 */
let docSink: ((doc: unknown) => void) | null = null;

export function setDocSink(sink: ((doc: unknown) => void) | null): void {
  docSink = sink;
}

/** A monitoring format is collecting the document (commands that stream JSON build it whole then). */
export function docSinkActive(): boolean {
  return docSink !== null;
}

/**
 * `write` is how the text reaches stdout: `process.stdout.write` by default; `writeWhole`
 * (report/closed-pipe.ts) for a command that writes nothing else to stdout.
 */
export function printJson(doc: unknown, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  if (docSink) docSink(doc);
  else write(`${JSON.stringify(doc, null, 2)}\n`);
}

/** Human output: the `--set` overrides, one line, right under the release line (nothing when none). */
export function overridesLine(list: readonly Override[]): string[] {
  if (!list.length) return [];
  return [`Overrides for this run only (--set): ${list.map(overrideText).join(', ')}`];
}

/** `--json`: `{ overrides: [...] }` when there are any. */
export function overridesField(list: readonly Override[]): Record<string, unknown> {
  return list.length ? { overrides: overridesJson(list) } : {};
}
