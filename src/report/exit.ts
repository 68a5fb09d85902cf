/** Exit codes shared by every command. */
export const EXIT_OK = 0;
/** Problems found: an error finding, a failed stage, a reply the server would not accept. */
export const EXIT_PROBLEMS = 1;
/** Could not run: bad flags, unreadable input. */
export const EXIT_CANNOT_RUN = 2;

/**
 * A user's mistake or an input we cannot use. The CLI prints `imip: <message>` and exits 2,
 * never a stack trace.
 */
export class CannotRunError extends Error {
  readonly exitCode = EXIT_CANNOT_RUN;
  constructor(message: string) {
    super(message);
    this.name = 'CannotRunError';
  }
}
