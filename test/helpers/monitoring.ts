/**
 * Checks of the monitoring formats against their specifications, for the tests:
 * - Nagios: the monitoring plugin guidelines (one line, "SERVICE STATE - text", perfdata
 *   `'label'=value[UOM];[warn];[crit];[min];[max]`, UOM one of s ms us % B KB MB TB c or none,
 *   exit 0-3 matching the state);
 * - Prometheus: parsed with parse-prometheus-text-format (npm), and `promtool check metrics`
 *   (Debian package prometheus) when installed; on CI (CI=true) promtool is required.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect } from 'vitest';

const require = createRequire(import.meta.url);
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}[];

const STATES = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
const RANGE = String.raw`@?(?:~|-?\d+(?:\.\d+)?)?(?::(?:-?\d+(?:\.\d+)?)?)?`;
const PERF_ITEM = new RegExp(String.raw`^(?:'[^'=]+'|[^'=\s]+)=-?\d+(?:\.\d+)?(?:s|ms|us|%|B|KB|MB|TB|c)?(?:;(?:${RANGE})?(?:;(?:${RANGE})?(?:;(?:-?\d+(?:\.\d+)?)?(?:;(?:-?\d+(?:\.\d+)?)?)?)?)?)?$`);

export interface NagiosOutput {
  state: keyof typeof STATES;
  text: string;
  perf: Map<string, string>;
}

/** Asserts the plugin conventions and returns the parts. */
export function checkNagios(stdout: string, code: number | null): NagiosOutput {
  const lines = stdout.split('\n');
  expect(lines.at(-1), 'output ends with one newline').toBe('');
  expect(lines.length, 'exactly one line').toBe(2);
  const m = /^IMIP (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?) \| (.+)$/.exec(lines[0]!);
  expect(m, `status line: ${lines[0]}`).not.toBeNull();
  const state = m![1] as keyof typeof STATES;
  expect(code, 'exit code matches the state').toBe(STATES[state]);
  const perf = new Map<string, string>();
  for (const item of m![3]!.split(' ')) {
    expect(item, `perfdata item ${item}`).toMatch(PERF_ITEM);
    const eq = item.indexOf('=');
    perf.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return { state, text: m![2]!, perf };
}

export type PromFamilies = ReturnType<typeof parsePrometheus>;

export function promtoolAvailable(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Parses (npm parser) and lints (promtool) exposition text; returns the families. */
export function checkPrometheus(text: string): PromFamilies {
  const families = parsePrometheus(text);
  expect(families.length).toBeGreaterThan(0);
  for (const f of families) {
    expect(f.name).toMatch(/^imip_[a-z_]+$/);
    expect(f.help.length).toBeGreaterThan(0);
    expect(f.type).toBe('GAUGE');
  }
  if (promtoolAvailable()) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim(), 'promtool check metrics').toBe('');
    expect(r.status).toBe(0);
  } else if (process.env.CI === 'true') {
    throw new Error('promtool is missing: install the Debian package "prometheus" (apt-get install -y --no-install-recommends prometheus)');
  }
  return families;
}

/** The value of one sample: family name and labels that must match. */
export function sample(families: PromFamilies, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.find((x) => x.name === name);
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m ? Number(m.value) : undefined;
}
