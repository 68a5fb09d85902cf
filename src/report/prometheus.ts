/**
 * `--format prometheus`: the text exposition format (version 0.0.4), for the node exporter's
 * textfile collector. Every name has the `imip_` prefix and its unit in the name; every family has
 * HELP and TYPE (gauges: each run replaces the file).
 *
 *   imip_up{command}                                   1 the check passed, 0 not
 *   imip_run_duration_seconds{command}
 *   imip_stage_duration_seconds{command,probe,stage}   imip_stage_success{command,probe,stage}
 *   imip_poll_messages{command,action}                 poll: messages per server action
 *   imip_roundtrip_duration_seconds{command}           send-test --reply-from
 *   imip_roundtrip_leg_duration_seconds{command,leg}   imip_roundtrip_leg_success{command,leg}
 *   imip_findings{command,severity}
 *   imip_last_success_timestamp_seconds{command}       now when up, else carried over from --output
 */
import type { MonitorSample } from './monitoring.js';

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(Math.round(n * 1e6) / 1e6);
}

function renderFamily(f: Family): string[] {
  if (f.samples.length === 0) return [];
  const lines = [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`];
  for (const s of f.samples) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    lines.push(`${f.name}${labels.length ? `{${labels.join(',')}}` : ''} ${value(s.value)}`);
  }
  return lines;
}

/** The last success time recorded for this command in an earlier output (for a failed run). */
export function previousLastSuccess(previous: string | null, command: string): number | null {
  if (!previous) return null;
  const want = `imip_last_success_timestamp_seconds{command="${escapeLabel(command)}"} `;
  const line = previous.split('\n').find((l) => l.startsWith(want));
  const v = line ? Number(line.slice(want.length).trim()) : NaN;
  return Number.isFinite(v) ? v : null;
}

export function renderPrometheus(s: MonitorSample, opts: { now: Date; previous?: string | null }): string {
  const cmd = { command: s.command };
  const lastSuccess = s.up ? opts.now.getTime() / 1000 : previousLastSuccess(opts.previous ?? null, s.command);
  const families: Family[] = [
    { name: 'imip_up', help: 'Whether the last imip check passed (1) or not (0).', samples: [{ labels: cmd, value: s.up ? 1 : 0 }] },
    { name: 'imip_run_duration_seconds', help: 'Wall time of the imip command.', samples: [{ labels: cmd, value: s.durationSeconds }] },
    {
      name: 'imip_stage_duration_seconds',
      help: 'Time each connection stage took.',
      samples: s.stages.map((st) => ({ labels: { ...cmd, probe: st.group, stage: st.stage }, value: st.seconds })),
    },
    {
      name: 'imip_stage_success',
      help: 'Whether each connection stage passed (1) or failed (0).',
      samples: s.stages.map((st) => ({ labels: { ...cmd, probe: st.group, stage: st.stage }, value: st.ok ? 1 : 0 })),
    },
    {
      name: 'imip_poll_messages',
      help: 'Messages in the receiving mailbox by what the server does with them in the next poll.',
      samples: Object.entries(s.messages ?? {}).map(([action, n]) => ({ labels: { ...cmd, action }, value: n })),
    },
    {
      name: 'imip_roundtrip_duration_seconds',
      help: 'Time from the test invitation leaving to the reply being judged.',
      samples: s.roundTripSeconds === null ? [] : [{ labels: cmd, value: s.roundTripSeconds }],
    },
    {
      name: 'imip_roundtrip_leg_duration_seconds',
      help: 'Latency of each leg of the round trip.',
      samples: (s.legs ?? []).filter((l) => l.seconds !== null).map((l) => ({ labels: { ...cmd, leg: l.leg }, value: l.seconds! })),
    },
    {
      name: 'imip_roundtrip_leg_success',
      help: 'Whether each leg of the round trip passed (1) or failed or was not reached (0).',
      samples: (s.legs ?? []).map((l) => ({ labels: { ...cmd, leg: l.leg }, value: l.ok === true ? 1 : 0 })),
    },
    {
      name: 'imip_findings',
      help: 'Findings of the run by severity.',
      samples: (['error', 'warning', 'info'] as const).map((severity) => ({ labels: { ...cmd, severity }, value: s.findings[severity] })),
    },
    {
      name: 'imip_last_success_timestamp_seconds',
      help: 'Unix time of the last run of this command that passed.',
      samples: lastSuccess === null ? [] : [{ labels: cmd, value: lastSuccess }],
    },
  ];
  return `${families.flatMap(renderFamily).join('\n')}\n`;
}
