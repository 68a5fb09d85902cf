/** What every command does first: find the config, pick the release, load it as the server would. */
import { openSync, readSync, closeSync } from 'node:fs';
import { featuresOf, parseServerVersion, type ServerVersion } from '../server/release.js';
import { inferServerVersion, locateConfig, toSettings } from '../config/effective.js';
import { loadConfig } from '../config/load.js';
import { preloadBinaryParser, readPlistFile } from '../config/plist-file.js';
import { CannotRunError } from '../report/exit.js';
import { loadPalette, wantColor, type OutputOptions } from '../report/style.js';
import type { ConfigContext } from '../checks/rule.js';
import type { ConnectOptions } from '../config/settings.js';
import { readFileSync } from 'node:fs';

export interface SharedFlags {
  config?: string;
  serverVersion?: string;
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface ConnectFlags {
  timeout?: string;
  caFile?: string;
  insecure?: boolean;
}

export function outputOptions(flags: SharedFlags): OutputOptions {
  return {
    json: Boolean(flags.json),
    color: !flags.json && wantColor(flags.color),
    quiet: Boolean(flags.quiet),
    verbose: Boolean(flags.verbose),
  };
}

/** The palette for the output: chalk is loaded only when colour is on. */
export function colours(out: OutputOptions) {
  return loadPalette(out.color);
}

function startsWithBplist(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(6);
      readSync(fd, b, 0, 6, 0);
      return b.toString('latin1') === 'bplist';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export interface LoadedForCommand {
  ctx: ConfigContext;
  configPath: string;
  located: string;
}

/** Locate, read, pick the release (given, else inferred), load with includes and defaults. */
export async function loadForCommand(flags: SharedFlags, platform: NodeJS.Platform = process.platform): Promise<LoadedForCommand> {
  const given: ServerVersion | null = flags.serverVersion ? parseServerVersion(flags.serverVersion) : null;
  const { path, how } = locateConfig(flags.config);
  if (startsWithBplist(path)) await preloadBinaryParser();
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
  const ctx: ConfigContext = { config, settings: toSettings(config, version), version, features: featuresOf(version), platform };
  return { ctx, configPath: path, located: how };
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

export function printJson(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}
