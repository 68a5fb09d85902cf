/**
 * The `imip` program. Every command's flags are declared here so `--help` is complete and
 * instant; the command's code (and nodemailer, imapflow, ical.js) loads only when it runs.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CannotRunError, EXIT_CANNOT_RUN } from './report/exit.js';
import { endQuietlyOnClosedPipe, exitStatus, writeWhole } from './report/closed-pipe.js';
import { printable } from './report/terminal-text.js';

type Flags = Record<string, unknown>;
type Runner = (flags: Flags, args: string[]) => Promise<number>;

/** The package's version, written into the program by the build (scripts/build.mjs). */
declare const __IMIP_VERSION__: string | undefined;

function packageVersion(): string {
  if (typeof __IMIP_VERSION__ === 'string') return __IMIP_VERSION__;
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function shared(cmd: Command): Command {
  return cmd
    .argument('[config]', 'caldavd.plist to read, as with --config')
    .option('--config <path>', 'caldavd.plist to read (default: $IMIP_CONFIG, then the platform default locations)')
    .option('--set <key=value>', 'override a config key for this run only, e.g. Sending.Port=587 (repeatable; keys relative to Scheduling.iMIP)', collect, [])
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
    process.stderr.write(`imip: ${printable(err.message)}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`imip: internal error: ${printable(e?.message ?? String(err))}\n`);
  if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write('imip: run again with --verbose for details, and report it as a bug\n');
  return EXIT_CANNOT_RUN;
}

/** `configArg: false`: the command's positional argument is its own (imip tokens TOKEN), not a config path. */
function action(load: () => Promise<{ run: Runner }>, opts: { configArg?: boolean } = {}): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const flags = cmd.opts() as Flags;
    const positional = (args.slice(0, -2).flat() as Array<string | undefined>).filter((a): a is string => typeof a === 'string');
    let code: number;
    try {
      // A config path as the one positional argument works like --config.
      if (positional.length && opts.configArg !== false) {
        if (flags.config !== undefined && flags.config !== positional[0]) {
          throw new CannotRunError(`two configs given: ${positional[0]} and --config ${String(flags.config)}; give one`);
        }
        flags.config = positional[0];
      }
      const mod = await load();
      const monitoring = ['format', 'warning', 'critical', 'output'].some((k) => flags[k] !== undefined && !(k === 'format' && (flags[k] === 'human' || flags[k] === 'json')));
      const monitor = monitoring ? await import('./commands/monitor-output.js') : null;
      let format: import('./commands/monitor-output.js').MonitorFormat | null | undefined;
      try {
        format = monitor?.monitorFormat(flags);
      } catch (e) {
        if (!(monitor && flags.format === 'nagios' && e instanceof CannotRunError)) throw e;
        process.exitCode = monitor.nagiosUnknown(cmd.name(), e.message);
        return;
      }
      code = monitor && format ? await monitor.runMonitored(cmd.name(), format, flags, () => mod.run(flags, positional)) : await mod.run(flags, positional);
    } catch (err) {
      code = failure(err, Boolean(flags.verbose));
      // --json: a script reading stdout gets a document that says the run could not be made, not
      // empty input (the message is on stderr as always). Only for a run stopped by the user's
      // input (a CannotRunError, raised before any output); an internal error may come after the
      // command's own document began.
      if (flags.json === true && err instanceof CannotRunError) {
        process.stdout.write(`${JSON.stringify({ command: cmd.name(), ok: false, exitCode: code, error: printable(err.message) })}\n`);
      }
    }
    process.exitCode = exitStatus(code);
  };
}

/** One command: its name, its flags (given the bare command), examples for its help, and its code. */
interface CommandSpec {
  name: string;
  flags: (cmd: Command) => Command;
  examples: string[];
  load: () => Promise<{ run: Runner }>;
  /** `false`: the positional argument is the command's own (imip tokens TOKEN), not a config path. */
  configArg?: false;
}

/** Every command, in the order `--help` lists them (see {@link isCommand}). */
const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'check-config',
    flags: (cmd) =>
      shared(
        connection(
          cmd
            .description('validate Scheduling → iMIP in caldavd.plist the way the server reads it')
            .option('--connect', 'also test SMTP and the IMAP/POP mailbox, in one report')
            .option('--list-checks', 'list every finding id with its severity and release lines'),
        ),
      ),
    examples: [
      'imip check-config --config /etc/caldavd/caldavd.plist',
      'imip check-config --config caldavd.plist --server-version 4.3 --json',
      'imip check-config --connect --ca-file /etc/ssl/mail-ca.pem',
      'imip check-config --list-checks',
    ],
    load: () => import('./commands/check-config.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'test-smtp',
    flags: (cmd) =>
      shared(
        connection(
          cmd
            .description('test the SMTP path stage by stage, with the server\'s STARTTLS semantics')
            .option('--send-to <address>', 'also send a short plain message to this address and report the final reply'),
        ),
      ),
    examples: [
      'imip test-smtp --config /etc/caldavd/caldavd.plist',
      'imip test-smtp --ca-file ca.pem --send-to me@example.com',
      'imip test-smtp --json --timeout 5',
    ],
    load: () => import('./commands/test-smtp.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'test-mailbox',
    flags: (cmd) => shared(connection(cmd.description('test the IMAP or POP3 mailbox stage by stage, read-only'))),
    examples: [
      'imip test-mailbox --config /etc/caldavd/caldavd.plist',
      'imip test-mailbox --ca-file ca.pem --json',
    ],
    load: () => import('./commands/test-mailbox.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'send-test',
    flags: (cmd) =>
      shared(
        connection(
          cmd
            .description('send a real test invitation built exactly as Calendar Server builds it')
            .requiredOption('--to <attendee>', 'the attendee to invite (an address outside the server)')
            .option('--organizer <address>', 'organizer address shown in From (default: Sending.Address)')
            .option('--summary <text>', 'event summary', 'imip test invitation')
            .option('--start <iso-8601>', 'event start (default: tomorrow 10:00 local time)')
            .option('--duration <minutes>', 'event length in minutes', '30')
            .option('--dry-run', 'print the message; send nothing')
            .option('--save <file.eml>', 'write the message to this file and send nothing')
            .option('--wait-reply <seconds>', 'watch the mailbox (read-only) this long for the attendee\'s reply')
            .option('--force', 'send even when AddressPatterns would not route the attendee to iMIP')
            .option('--state-dir <dir>', 'where sent tokens are recorded (default: $XDG_STATE_HOME/imip)')
            .option('--token-store <path|url>', 'the server\'s token store: a mailgatewaytokens.sqlite file (2.x-4.x) or postgres://USER@HOST/DB (5.0+); default: from the config')
            .option('--reply-from <imaps-url>', 'round trip: the test attendee mailbox, imaps://USER@HOST[:PORT] (or imap:// with STARTTLS); password from $IMIP_REPLY_PASSWORD or --reply-password-file')
            .option('--reply-submit <submission-url>', 'round trip: where the attendee sends from, submission://USER@HOST[:587] (default: the --reply-from user and host, port 587)')
            .option('--reply-password-file <file>', 'round trip: read the attendee account password from the first line of this file')
            .addOption(new Option('--client <name>', 'round trip: answer shaped as this client does').choices(['apple', 'outlook', 'gmail', 'thunderbird']))
            .option('--keep-reply', 'round trip: leave the reply in the gateway mailbox after judging'),
        ),
      ),
    examples: [
      'imip send-test --to someone@gmail.com --dry-run',
      'imip send-test --to someone@gmail.com --save invite.eml',
      'imip send-test --to someone@gmail.com --wait-reply 600',
      'IMIP_REPLY_PASSWORD=… imip send-test --to probe@example.org --reply-from imaps://probe@example.org@imap.example.org --client outlook',
    ],
    load: () => import('./commands/send-test.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'poll',
    flags: (cmd) =>
      shared(
        connection(
          cmd
            .description('run one poll cycle over the receiving mailbox and show what the server does with each message')
            .option('--once', 'run exactly one cycle (the only mode: the server itself polls every PollingSeconds)')
            .option('--apply', '2.x-4.x: inject handled replies into the server and delete only those messages')
            .option('--inject-url <url>', 'the server\'s /inbox/ URL for --apply (default: derived from the config as the gateway does)')
            .option('--single-poller', 'POP3 --apply: only this host polls the mailbox (needed when the server does not lock the maildrop)')
            .option('--state-dir <dir>', 'where send-test recorded its tokens; --apply keeps its journal and poller id there (default: $XDG_STATE_HOME/imip)')
            .option('--token-store <path|url>', 'the server\'s token store: a mailgatewaytokens.sqlite file (2.x-4.x) or postgres://USER@HOST/DB (5.0+); default: from the config'),
        ),
      ),
    examples: [
      'imip poll --once',
      'imip poll --once --json | jq \'.summary\'',
      'imip poll --once --server-version 4.3 --apply',
    ],
    load: () => import('./commands/poll.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'diagnose',
    flags: (cmd) =>
      shared(
        connection(
          cmd
            .description('doctor: test sending and the mailbox, and name the cause of "didn\'t find a token in message" and "iMIP injection principal not found"')
            .option('--message <file...>', 'saved messages (.eml) to examine; - reads one from stdin')
            .option('--log <file...>', 'Calendar Server log files, plain or gzip')
            .option('--directory <file>', 'the XML accounts file of the server\'s directory')
            .addOption(new Option('--probe <kind>', 'live probe: send to a plus address, or authenticate to /inbox').choices(['plus-address', 'injection', 'all']))
            .option('--offline', 'no network: skip the SMTP test and the mailbox (Sending and Receiving show as not tested)')
            .option('--state-dir <dir>', 'where send-test recorded its tokens (default: $XDG_STATE_HOME/imip)')
            .option('--token-store <path|url>', 'the server\'s token store: a mailgatewaytokens.sqlite file (2.x-4.x) or postgres://USER@HOST/DB (5.0+); default: from the config'),
        ),
      ),
    examples: [
      'imip diagnose',
      'imip diagnose --message reply.eml --log /var/log/caldavd/error.log',
      'imip diagnose --server-version 2.5 --directory /etc/caldavd/accounts.xml --probe injection',
      'imip diagnose --probe plus-address --ca-file ca.pem',
      'imip diagnose --offline --message reply.eml',
    ],
    load: () => import('./commands/diagnose.js') as Promise<{ run: Runner }>,
  },
  {
    name: 'tokens',
    flags: (cmd) =>
      shared(
        cmd
          .description('read the server\'s token store (read-only): what a token maps to, tokens per attendee, organizer or event, statistics')
          .argument('[token]', 'a token (the part after "+" in the reply address)')
          .option('--attendee <address>', 'list the tokens issued to this attendee')
          .option('--organizer <cua>', 'list the tokens of this organizer (mailto:, urn:uuid:, urn:x-uid:)')
          .option('--uid <uid>', 'list the tokens of this event')
          .option('--timeout <seconds>', 'limit for connecting to and querying the database', '15')
          .option('--token-store <path|url>', 'a mailgatewaytokens.sqlite file (2.x-4.x) or postgres://USER@HOST/DB (5.0+); default: from the config'),
      ),
    examples: [
      'imip tokens',
      'imip tokens 3f2b8c1e-6d4a-4f1e-9a7b-2c5d8e9f0a1b',
      'imip tokens --attendee someone@example.org --json',
      'imip tokens --server-version 4.3 --token-store /var/db/caldavd/Data/mailgatewaytokens.sqlite',
    ],
    load: () => import('./commands/tokens.js') as Promise<{ run: Runner }>,
    configArg: false,
  },
];

/** Whether a word of the command line is one of imip's command names. */
function isCommand(word: string | undefined): boolean {
  return COMMANDS.some((spec) => spec.name === word);
}

/** Add one command to the program: its flags, its examples after the help, its action. */
function addCommand(program: Command, spec: CommandSpec, argv: readonly string[]): void {
  spec
    .flags(program.command(spec.name))
    .addHelpText('after', examples(spec.examples))
    .hook('preAction', (_this, cmd) => {
      const message = flagTakenAsValue(cmd, argv);
      if (message) cmd.error(`error: ${message}`, { exitCode: EXIT_CANNOT_RUN, code: 'imip.flagAsValue' });
    })
    .action(action(spec.load, spec));
}

/** A flag, not a value: `--x`, `--`, `-x`. A lone `-` (stdin) and a negative number are values. */
const FLAG = /^(?:--|-[A-Za-z])/;

/**
 * A flag that needs a value, written with a flag after it where the value belongs. Commander
 * takes the next word as the value whatever it is: `--output --bogus` wrote the Prometheus text
 * to a file named "--bogus", and `--config --json` read a config of that name. A value that does
 * begin with "-" is written `--NAME=VALUE`.
 */
function flagTakenAsValue(cmd: Command, argv: readonly string[]): string | null {
  for (let i = 2; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    const option = cmd.options.find((o) => o.long === word && o.required);
    if (!option) continue;
    const next = argv[i + 1];
    if (next !== undefined && FLAG.test(next)) {
      return `option '${option.flags}' needs a value, and ${next} is a flag (for a value that begins with "-", write ${word}=${next})`;
    }
    i++;
  }
  return null;
}

/**
 * The program with its commands. Given the command a run names (`imip check-config …`), only that
 * one is built: its help, its flags and its errors are its own, and building the other six cost
 * a few milliseconds of every start. `imip --version` alone builds none; `--help`, `help`, an
 * unknown or no command: all of them.
 */
export function buildProgram(argv: readonly string[] = []): Command {
  const program = new Command('imip')
    .description('Check, test and diagnose the email scheduling (iMIP) of Apple Calendar Server.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Help and the version go out in one synchronous write, without creating `process.stdout`
    // (which loads Node's stream modules, and net for a pipe).
    // Commander's own errors ("error: unknown option '--x'") speak as every other error does: "imip: …".
    .configureOutput({ writeOut: (s) => writeWhole(s), writeErr: (s) => process.stderr.write(s.replace(/^error: /, 'imip: ')) });

  const named = COMMANDS.find((spec) => spec.name === argv[2]);
  // `imip --version` prints the version and nothing else: no command is needed for it.
  const versionOnly = argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V');
  for (const spec of versionOnly ? [] : named ? [named] : COMMANDS) addCommand(program, spec, argv);
  monitoringOptions(program);
  // The program's own errors come only from a run that names no command of imip's (`imip
  // /etc/caldavd/caldavd.plist`, `imip --config FILE`): say what comes first. The commands, made
  // above with the general line, keep it.
  program.showHelpAfterError(`(imip's commands: ${COMMANDS.map((spec) => spec.name).join(', ')}; the command comes first, as in "imip check-config /etc/caldavd/caldavd.plist")`);
  return program;
}

/** `--format`, `--warning`, `--critical`, `--output` on every command (see src/commands/monitor-output.ts). */
function monitoringOptions(program: Command): void {
  for (const cmd of program.commands) {
    cmd
      .addOption(new Option('--format <format>', 'output: human (default), json (as --json), nagios (one status line, exit 0-3), prometheus (text exposition format)').choices(['human', 'json', 'nagios', 'prometheus']))
      .option('--warning <thresholds>', 'nagios: LABEL=RANGE[,...] on the perfdata, a bare RANGE for time (e.g. 30 or leg_reply-arrived=60)')
      .option('--critical <thresholds>', 'nagios: as --warning, for CRITICAL')
      .option('--output <file>', 'prometheus: write to this file atomically (for the node exporter\'s textfile collector)');
    cmd.hook('preAction', (_this, action) => {
      if (action.opts().format === 'json') action.setOptionValue('json', true);
    });
  }
}

/**
 * The command a run names (for flags that did not parse), on arguments {@link commandFirst} has
 * ordered: the first word when it is not a flag, as commander reads it, and "imip" when that word
 * is no command of imip's (`imip nosuch --json poll` is the unknown command `nosuch`, not a poll);
 * after leading flags (no command among the arguments to move first), the first of imip's command
 * names, not the value of a flag written before it, else "imip".
 */
function commandOf(argv: string[]): string {
  const first = argv[2];
  if (first !== undefined && !first.startsWith('-')) return isCommand(first) ? first : 'imip';
  return argv.slice(2).find(isCommand) ?? 'imip';
}

/** The value of `--NAME VALUE` or `--NAME=VALUE` in raw argv (for flags that did not parse); a flag after `--NAME` is no value ({@link FLAG}). */
function rawFlag(argv: string[], name: string): string | undefined {
  const j = argv.indexOf(`--${name}`);
  if (j >= 0 && j + 1 < argv.length && !FLAG.test(argv[j + 1]!)) return argv[j + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Whether --json (or --format json) was asked for, read from raw argv. */
function jsonAsked(argv: string[]): boolean {
  return argv.includes('--json') || rawFlag(argv, 'format') === 'json';
}

/** The command, when `format` output was asked for, read from raw argv. */
function formatAsked(argv: string[], format: 'nagios' | 'prometheus'): string | null {
  return rawFlag(argv, 'format') === format ? commandOf(argv) : null;
}

/**
 * The arguments with imip's command first: `imip --json check-config` runs as `imip check-config
 * --json`, since every flag is the command's. Unchanged unless flags come first (`imip help poll`,
 * an unknown command), when there is no command, or when help, the version or `--` come before it.
 */
function commandFirst(argv: readonly string[]): string[] {
  const k = argv.findIndex((a, i) => i >= 2 && isCommand(a));
  const before = argv.slice(2, k);
  if (k <= 2 || !argv[2]!.startsWith('-') || before.some((a) => a === '--' || a === '-h' || a === '--help' || a === '-V' || a === '--version')) return [...argv];
  return [...argv.slice(0, 2), argv[k]!, ...argv.slice(2, k), ...argv.slice(k + 1)];
}

export async function main(given: string[]): Promise<void> {
  const argv = commandFirst(given);
  // A closed pipe ends the run quietly; a run that changes the mailbox finishes its work first.
  endQuietlyOnClosedPipe(() => argv.includes('--apply'));
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version exit 0; every other parse error is a bad flag: exit 2 (UNKNOWN, 3, in Nagios mode; imip_up 0 in Prometheus mode).
      const nagios = err.exitCode === 0 ? null : formatAsked(argv, 'nagios');
      if (nagios) {
        const { nagiosUnknown } = await import('./commands/monitor-output.js');
        process.exitCode = nagiosUnknown(nagios, err.message.replace(/^error: /, ''));
        return;
      }
      const prometheus = err.exitCode === 0 ? null : formatAsked(argv, 'prometheus');
      if (prometheus) {
        const { prometheusCannotStart } = await import('./commands/monitor-output.js');
        process.exitCode = prometheusCannotStart(prometheus, rawFlag(argv, 'output'), printable(err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')));
        return;
      }
      // --json: a bad flag is a run stopped by its input like a bad flag value, with the same
      // document on stdout (the message is on stderr as always).
      if (err.exitCode !== 0 && jsonAsked(argv)) {
        process.stdout.write(`${JSON.stringify({ command: commandOf(argv), ok: false, exitCode: EXIT_CANNOT_RUN, error: printable(err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')) })}\n`);
      }
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN;
      return;
    }
    process.exitCode = failure(err, argv.includes('--verbose') || argv.includes('-v'));
  }
}

