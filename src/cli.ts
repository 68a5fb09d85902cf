/**
 * The `imip` program. Every command's flags are declared here so `--help` is complete and
 * instant; the command's code (and nodemailer, imapflow, ical.js) loads only when it runs.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CannotRunError, EXIT_CANNOT_RUN } from './report/exit.js';

type Flags = Record<string, unknown>;
type Runner = (flags: Flags, args: string[]) => Promise<number>;

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function shared(cmd: Command): Command {
  return cmd
    .option('--config <path>', 'caldavd.plist to read (default: $IMIP_CONFIG, then the platform default locations)')
    .option('--server-version <version>', 'Calendar Server release to judge by, e.g. 2.5, 4.3, 9.2 (default: inferred, else 5.0+)')
    .option('--json', 'machine-readable output on stdout')
    .option('--no-color', 'no colours (also when NO_COLOR is set or stdout is not a terminal)')
    .option('-q, --quiet', 'print only the summary line')
    .option('-v, --verbose', 'more detail: effective settings with their origins, every stage\'s evidence');
}

function connection(cmd: Command): Command {
  return cmd
    .option('--timeout <seconds>', 'limit for each network stage', '15')
    .option('--ca-file <pem>', 'trust the certificates in this PEM file too')
    .option('--insecure', 'do not verify certificates (said in the output)');
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Map a thrown error to an exit code; a user's mistake never shows a stack trace. */
function failure(err: unknown, verbose: boolean): number {
  if (err instanceof CannotRunError) {
    process.stderr.write(`imip: ${err.message}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`imip: internal error: ${e?.message ?? String(err)}\n`);
  if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write('imip: run again with --verbose for details, and report it as a bug\n');
  return EXIT_CANNOT_RUN;
}

function action(load: () => Promise<{ run: Runner }>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const flags = cmd.opts() as Flags;
    const positional = args.slice(0, -2).flat() as string[];
    let code: number;
    try {
      const mod = await load();
      code = await mod.run(flags, positional);
    } catch (err) {
      code = failure(err, Boolean(flags.verbose));
    }
    process.exitCode = code;
  };
}

export function buildProgram(): Command {
  const program = new Command('imip')
    .description('Check, test and diagnose the email scheduling (iMIP) of Apple Calendar Server.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  shared(
    connection(
      program
        .command('check-config')
        .description('validate Scheduling → iMIP in caldavd.plist the way the server reads it')
        .option('--connect', 'also test SMTP and the IMAP/POP mailbox, in one report')
        .option('--list-checks', 'list every finding id with its severity and release lines'),
    ),
  )
    .addHelpText(
      'after',
      examples([
        'imip check-config --config /etc/caldavd/caldavd.plist',
        'imip check-config --config caldavd.plist --server-version 4.3 --json',
        'imip check-config --connect --ca-file /etc/ssl/mail-ca.pem',
        'imip check-config --list-checks',
      ]),
    )
    .action(action(() => import('./commands/check-config.js') as Promise<{ run: Runner }>));

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version exit 0; every other parse error is a bad flag: exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN;
      return;
    }
    process.exitCode = failure(err, argv.includes('--verbose') || argv.includes('-v'));
  }
}

// Re-exported for tests that inspect the command tree (man page coverage).
export { Option };
