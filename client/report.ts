// A drill's or a switchover's report as an operator reads it: a summary for the terminal,
// Markdown for a ticket, and the timeline as a self-contained SVG a browser opens. Pure.
import type { MaintenanceReport } from '../runbooks/maintenance-report';
import type { DrillReport } from '../runbooks/report';

const s = (seconds?: number) => (seconds === undefined ? 'n/a' : `${seconds.toFixed(1)} s`);

/** The application path's downtime, when the cluster has an application tier. */
function appLine(f: DrillReport['figures']): string | undefined {
  if (f.appDowntimeSeconds !== undefined) return `down ${s(f.appDowntimeSeconds)} through HAProxy (its health URL, 200 while it writes)`;
  if (f.appDownAtLeastSeconds !== undefined) return `down at least ${s(f.appDownAtLeastSeconds)}: it had not answered 200 through HAProxy again when the observation ended`;
  return undefined;
}

/** A switchover's two phases, when the report has them. */
function switchoverLine(f: DrillReport['figures']): string | undefined {
  const p = f.switchover;
  if (!p) return undefined;
  return `Patroni's demote and promote ${s(p.patroniSeconds)}, then routing ${s(p.routingSeconds)} (${p.coordinated ? 'HAProxy told through its runtime API' : `HAProxy's checks${p.notCoordinated ? `; not coordinated: ${p.notCoordinated}` : ''}`})`;
}

/** The few lines `haflow drill` ends with. */
export function formatReportSummary(report: DrillReport): string {
  const f = report.figures;
  const what = report.kind === 'switchover' ? `switchover from ${report.oldLeader} to ${f.newLeader ?? '?'}` : `drill ${report.fault} on ${report.target}`;
  const lines = [
    `${what} on cluster ${report.cluster}: ${report.verdict.pass ? 'PASS' : 'FAIL'}`,
    `  write downtime   ${f.downtimeIsUpperBound ? 'at most ' : ''}${s(f.writeDowntimeSeconds)}   (predicted ${s(report.predicted.expectedSeconds)}, at worst ${s(report.predicted.worstSeconds)}${report.objectives ? `; objective ${report.objectives.rto_seconds} s` : ''})`,
    `  lost writes      ${f.lostWrites ?? 'not counted'} of ${f.acknowledgedWrites} acknowledged${report.objectives ? ` (objective ${report.objectives.lost_writes})` : ''}`,
    `  new leader       ${f.newLeader ?? 'none'}${f.timeToNewLeaderSeconds !== undefined ? ` after ${s(f.timeToNewLeaderSeconds)}` : ''}; HAProxy routed to it after ${s(f.timeToRoutingSeconds)}`,
    switchoverLine(f)
      ? `  phases           ${switchoverLine(f)}`
      : `  phases           detection ${s(f.phases.detectionSeconds)}, election and promotion ${s(f.phases.promotionSeconds)}, routing ${s(f.phases.routingSeconds)}`,
    `  split brain      ${f.splitBrain ? 'YES: two nodes ran as primaries at once' : 'none seen'}`,
    ...(appLine(f) ? [`  application      ${appLine(f)}`] : []),
  ];
  for (const reason of report.verdict.reasons) lines.push(`  ! ${reason}`);
  return lines.join('\n');
}

export function formatReportMarkdown(report: DrillReport): string {
  const f = report.figures;
  const title = report.kind === 'switchover' ? `Switchover on ${report.cluster}` : `Drill ${report.fault} on ${report.cluster}`;
  const row = (a: string, b: string) => `| ${a} | ${b} |`;
  return [
    `# ${title}: ${report.verdict.pass ? 'PASS' : 'FAIL'}`,
    '',
    `Started ${report.startedAt}, fault at ${report.injectedAt} on ${report.target} (the leader was ${report.oldLeader}), finished ${report.finishedAt}.`,
    '',
    '| figure | value |',
    '|---|---|',
    row('write downtime (last acknowledged write before the fault to the first after)', s(f.writeDowntimeSeconds)),
    row('predicted write downtime', `${s(report.predicted.expectedSeconds)} (at worst ${s(report.predicted.worstSeconds)}): ${report.predicted.formula}`),
    row('acknowledged writes lost (RPO)', `${f.lostWrites ?? 'not counted'} of ${f.acknowledgedWrites}`),
    row('failed writes after the fault', String(f.failedWrites)),
    ...(appLine(f) ? [row('application path (its health URL through HAProxy)', appLine(f)!)] : []),
    row('new leader', `${f.newLeader ?? 'none'}${f.timeToNewLeaderSeconds !== undefined ? `, after ${s(f.timeToNewLeaderSeconds)}` : ''}`),
    row('HAProxy routes to it', s(f.timeToRoutingSeconds)),
    ...(f.switchover
      ? [
          row("Patroni's demote and promote (request to the new leader running as primary)", s(f.switchover.patroniSeconds)),
          row(f.switchover.coordinated ? 'routing (HAProxy told through its runtime API)' : "routing (HAProxy's checks)", s(f.switchover.routingSeconds)),
          row('phases timed by', f.switchover.timedBy),
        ]
      : [row('detection (leader key gone)', s(f.phases.detectionSeconds)), row('election and promotion', s(f.phases.promotionSeconds)), row("routing (HAProxy's checks)", s(f.phases.routingSeconds))]),
    row('split brain', f.splitBrain ? 'YES' : 'none seen'),
    row('objectives', report.objectives ? `write downtime ≤ ${report.objectives.rto_seconds} s, lost writes ≤ ${report.objectives.lost_writes}` : 'none declared (objectives: in the topology)'),
    '',
    report.verdict.reasons.length > 0 ? `Verdict: FAIL: ${report.verdict.reasons.join('; ')}.` : 'Verdict: PASS.',
    '',
    `Settings: Patroni ttl ${report.settings.ttl}, loop_wait ${report.settings.loop_wait}, retry_timeout ${report.settings.retry_timeout}, synchronous_mode ${report.settings.synchronous_mode}; HAProxy inter ${report.settings.inter}s fall ${report.settings.fall} rise ${report.settings.rise}.`,
    '',
    `How it was measured: a write every ${report.probe.intervalMs} ms ${report.probe.writeTarget ? `to ${report.probe.writeTarget}` : 'through HAProxy'} into the probe database (${report.probe.attempts} attempts; acknowledged by ${Object.entries(report.probe.ackedBy).map(([addr, n]) => `${addr} ${n}`).join(', ')}); every DB node asked pg_is_in_recovery(), Patroni's /cluster and HAProxy's stats read about 4 times a second; lost writes ${report.probe.lostCheck}. The observation ended: ${report.probe.stoppedBecause}.${report.probe.interruptions.length > 0 ? ` It was interrupted (worker lost) ${report.probe.interruptions.map((i) => `from ${i.from} s to ${i.to} s`).join(', ')}: writes in those windows were not measured.` : ''}`,
    '',
    '## Timeline (seconds from the fault)',
    '',
    ...report.timeline.map((e) => `- ${e.t >= 0 ? '+' : ''}${e.t.toFixed(1)} s: ${e.what}`),
    ...(report.notes.length > 0 ? ['', '## Notes', '', ...report.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

const escape = (text: string) => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** The timeline as an SVG picture: lanes for the writes, the leader key, each node's role and HAProxy's routing. */
export function reportSvg(report: DrillReport): string {
  const entries = report.timeline;
  const start = Math.min(-1, ...entries.map((e) => e.t));
  const end = Math.max(5, ...entries.map((e) => e.t), ...report.probe.outages.map((o) => o.to ?? 0)) + 1;
  const width = 960;
  const left = 170;
  const x = (t: number) => left + ((t - start) / (end - start)) * (width - left - 20);
  const lanes: { label: string; bars: { from: number; to: number; text: string; color: string }[] }[] = [];
  // Writes: acknowledged between outages, failed during them.
  const writes: { from: number; to: number; text: string; color: string }[] = [];
  let cursor = start;
  for (const o of report.probe.outages) {
    writes.push({ from: cursor, to: o.from, text: 'acknowledged', color: '#3a9d5d' });
    writes.push({ from: o.from, to: o.to ?? end, text: `${o.failed} failed`, color: '#c8402f' });
    cursor = o.to ?? end;
  }
  writes.push({ from: cursor, to: end, text: 'acknowledged', color: '#3a9d5d' });
  lanes.push({ label: 'writes (probe)', bars: writes.filter((b) => b.to > b.from) });
  // The other lanes from the timeline's state changes.
  const laneOf = (match: RegExp, label: string, color: (value: string) => string) => {
    const changes = entries.filter((e) => match.test(e.what)).map((e) => ({ t: e.t, value: e.what.replace(match, '$1') }));
    const bars = changes.map((c, i) => ({ from: c.t, to: changes[i + 1]?.t ?? end, text: c.value, color: color(c.value) }));
    lanes.push({ label, bars });
  };
  laneOf(/^(.*) holds the leader key$|^(no member) holds the leader key$/, 'leader key', (v) => (v.startsWith('no member') ? '#c8402f' : '#3b6fb6'));
  laneOf(/^HAProxy sends writes to (.*)$/, 'HAProxy routes to', (v) => (v === 'no server' ? '#c8402f' : '#3b6fb6'));
  const nodes = [...new Set(entries.map((e) => /^(\S+) (runs as|does not answer SQL)/.exec(e.what)?.[1]).filter(Boolean) as string[])];
  for (const node of nodes) {
    const changes = entries
      .filter((e) => e.what.startsWith(`${node} runs as`) || e.what === `${node} does not answer SQL`)
      .map((e) => ({ t: e.t, value: e.what.endsWith('a primary') ? 'primary' : e.what.endsWith('a replica') ? 'replica' : 'down' }));
    lanes.push({
      label: `${node}`,
      bars: changes.map((c, i) => ({ from: c.t, to: changes[i + 1]?.t ?? end, text: c.value, color: c.value === 'primary' ? '#3b6fb6' : c.value === 'replica' ? '#8fb3e0' : '#c8402f' })),
    });
  }
  const laneHeight = 34;
  const top = 70;
  const height = top + lanes.length * laneHeight + 60;
  const ticks: number[] = [];
  const step = end - start > 60 ? 10 : end - start > 20 ? 5 : 1;
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) ticks.push(t);
  const f = report.figures;
  const heading = `${report.kind === 'switchover' ? 'Switchover' : `Drill ${report.fault}`} on ${report.cluster}: ${report.verdict.pass ? 'PASS' : 'FAIL'}; write downtime ${s(f.writeDowntimeSeconds)} (predicted ${s(report.predicted.expectedSeconds)}), lost writes ${f.lostWrites ?? 'n/a'}`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="24" font-size="15" font-weight="bold">${escape(heading)}</text>`,
    `<text x="10" y="44" fill="#555">${escape(`fault at ${report.injectedAt} on ${report.target}; seconds from the fault`)}</text>`,
    ...ticks.map((t) => `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${top + lanes.length * laneHeight}" stroke="#eee"/><text x="${x(t)}" y="${top + lanes.length * laneHeight + 16}" text-anchor="middle" fill="#555">${t}</text>`),
    ...lanes.flatMap((lane, i) => {
      const y = top + i * laneHeight;
      return [
        `<text x="10" y="${y + 20}">${escape(lane.label)}</text>`,
        ...lane.bars.map(
          (b) =>
            `<g><title>${escape(`${lane.label}: ${b.text} from ${b.from.toFixed(1)} s to ${b.to.toFixed(1)} s`)}</title><rect x="${x(b.from)}" y="${y + 4}" width="${Math.max(1, x(b.to) - x(b.from))}" height="${laneHeight - 10}" fill="${b.color}" rx="3"/>` +
            (x(b.to) - x(b.from) > 60 ? `<text x="${x(b.from) + 4}" y="${y + 21}" fill="white">${escape(b.text)}</text>` : '') +
            '</g>',
        ),
      ];
    }),
    `<line x1="${x(0)}" y1="${top - 10}" x2="${x(0)}" y2="${top + lanes.length * laneHeight}" stroke="black" stroke-width="2"/>`,
    `<text x="${x(0) + 4}" y="${top - 12}">${escape(`fault: ${report.fault}`)}</text>`,
    `<text x="10" y="${height - 16}" fill="#555">${escape(`phases: detection ${s(f.phases.detectionSeconds)}, election and promotion ${s(f.phases.promotionSeconds)}, routing ${s(f.phases.routingSeconds)}`)}</text>`,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

/** The lines `haflow restart` ends with. */
export function formatMaintenanceSummary(report: MaintenanceReport): string {
  const lines = [
    `${report.kind} of cluster ${report.cluster}: ${report.verdict.pass ? 'PASS' : 'FAIL'}`,
    `  write pauses     ${report.pauses.length === 0 ? 'none' : report.pauses.map((p) => `${p.upperBound ? 'at most ' : ''}${s(p.seconds)} during ${p.duringStep ?? '?'}`).join('; ')}; total ${s(report.totalPauseSeconds)}`,
    `  lost writes      ${report.lostWrites ?? 'not counted'} of ${report.acknowledgedWrites} acknowledged`,
    ...(report.appOutages
      ? [`  application      ${report.appOutages.length === 0 ? 'answered throughout' : report.appOutages.map((p) => `down ${p.seconds === undefined ? 'until the end' : p.seconds === 0 ? 'under 0.1 s' : s(p.seconds)} during ${p.duringStep ?? '?'}`).join('; ')} (its health URL through HAProxy)`]
      : []),
    ...(report.versions ? [`  versions         ${Object.keys(report.versions.before).sort().map((h) => `${h} ${report.versions!.before[h]} → ${report.versions!.after[h] ?? '?'}`).join(', ')}`] : []),
    ...(report.switchover
      ? [`  switchover       Patroni's demote and promote ${s(report.switchover.patroniSeconds)}, then routing ${s(report.switchover.routingSeconds)} (${report.switchover.coordinated ? 'HAProxy told through its runtime API' : "HAProxy's checks"})`]
      : []),
    `  measured by      a write ${report.probe.writeTarget ? `to ${report.probe.writeTarget}` : 'through HAProxy'} every ${report.probe.intervalMs} ms (${report.probe.attempts} attempts); ${report.probe.stoppedBecause}`,
  ];
  for (const reason of report.verdict.reasons) lines.push(`  ! ${reason}`);
  return lines.join('\n');
}
