/**
 * Fault injection for the test suite's crash tests: with `IMIP_FAULT_INJECT=<step>` in the
 * environment, the process kills itself with SIGKILL the first time `--apply` reaches that
 * step (`imap:claiming`, `imap:posted`, `pop3:quit`, ... each named where it is called). Nothing
 * happens without the variable. A SIGKILL cannot be caught, so what the next run finds is exactly
 * what a power loss or `kill -9` at that point would leave.
 */
export function checkpoint(step: string): void {
  if (process.env.IMIP_FAULT_INJECT === step) process.kill(process.pid, 'SIGKILL');
}
