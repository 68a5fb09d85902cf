/** Run the built CLI as a person would: a child process, its exit code and both streams. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/imip', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number; nodeArgs?: string[]; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, IMIP_CONFIG: undefined, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * stdout of a `--json` run as a document. When it is not JSON (a crash, a kill), the error says
 * what the run did instead: its exit code or signal and the end of its stderr.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads the document field by field
export function jsonOf(r: CliResult, label = 'imip'): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`${label}: stdout is not JSON (exit ${r.code}); stdout ${JSON.stringify(r.stdout.slice(0, 200))}; stderr: ${r.stderr.slice(-2000)}`);
  }
}
