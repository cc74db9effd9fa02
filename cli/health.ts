// `haflow list`: a cluster's health as a table in the words of `patronictl list`, then where
// each HAProxy sends writes, etcd's members, and the verdict. Pure formatting.
import type { ClusterHealth, MemberHealth } from '../activities/cluster/health';

const ROLE: Record<string, string> = { leader: 'Leader', replica: 'Replica', sync_standby: 'Sync Standby', standby_leader: 'Standby Leader' };

function stateOf(member: MemberHealth): string {
  return member.streaming ? 'streaming' : member.state;
}

/** Bytes as patronictl shows lag: whole MB, empty for the leader. */
function lagInMb(member: MemberHealth): string {
  if (member.role === 'leader') return '';
  return typeof member.lag === 'number' ? String(Math.round(member.lag / 1024 / 1024)) : String(member.lag ?? 'unknown');
}

function table(header: string[], rows: string[][], title: string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const top = `+ ${title} `.padEnd(rule.length - 1, '-') + '+';
  return [top.length > rule.length ? `+ ${title} +` : top, line(header), rule, ...rows.map(line), rule];
}

export function formatHealth(health: ClusterHealth): string {
  const rows = health.members.map((m) => [m.name, `${m.host}${m.port ? `:${m.port}` : ''}`, ROLE[m.role] ?? m.role, stateOf(m), String(m.timeline ?? ''), lagInMb(m)]);
  const lines = rows.length > 0 ? table(['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'], rows, `Cluster: ${health.cluster}`) : [`Cluster: ${health.cluster}: no members known`];
  for (const h of health.haproxy) {
    const servers = h.servers.map((s) => `${s.name} ${s.status}`).join(', ');
    const to = h.error ? `does not answer (${h.error})` : h.routesTo.length === 0 ? 'sends writes to no server' : `sends writes to ${h.routesTo.join(' and ')}`;
    lines.push(`HAProxy ${h.host} (${h.endpoint}) ${to}${servers ? `   [${servers}]` : ''}`);
  }
  lines.push(`etcd: ${health.etcd.map((e) => `${e.host} ${e.healthy ? 'healthy' : 'NOT healthy'}`).join(', ') || 'no member'}`);
  lines.push(
    health.healthy
      ? `healthy (checked ${health.checkedAt})`
      : [`NOT HEALTHY (checked ${health.checkedAt}):`, ...health.problems.map((p) => `  - ${p}`)].join('\n'),
  );
  return lines.join('\n');
}
