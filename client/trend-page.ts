// One cluster's drill and switchover reports as a trend: a self-contained HTML page (inline CSS,
// an SVG chart drawn here, no script, no external resource) that a browser opens from a file://
// URL. Each point links to its report's timeline picture. Pure: the reports in, the page out.
import { pathToFileURL } from 'node:url';
import type { DrillReport } from '../runbooks/report';
import { FAULT_NAMES } from '../topology/faults';
import type { StoredReport } from './report-store';

/** Text for HTML content and attribute values (double-quoted), and for SVG, which the HTML parser reads the same way. */
const escape = (text: string) => text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);

const fileUrl = (path: string) => pathToFileURL(path).href;

/** Seconds to one decimal, as the reports give them. */
const secs = (n: number) => `${Math.round(n * 10) / 10} s`;

/** Coordinates to one decimal: the page stays small and readable. */
const px = (n: number) => String(Math.round(n * 10) / 10);

const PASS_COLOR = '#2e9d57';
const FAIL_COLOR = '#d0392b';
/** Ring colours by fault, in the catalog's order so a fault keeps its colour from page to page; none is red or green (the verdict's). */
const FAULT_COLORS = ['#3b6fb6', '#e08a1e', '#8e5bb5', '#222222', '#17a2b8', '#8c5a2b'];
const UNKNOWN_FAULT_COLOR = '#999999';

function faultColor(fault: string): string {
  const i = (FAULT_NAMES as string[]).indexOf(fault);
  return i >= 0 ? (FAULT_COLORS[i % FAULT_COLORS.length] ?? UNKNOWN_FAULT_COLOR) : UNKNOWN_FAULT_COLOR;
}

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const utcMinute = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

const what = (r: DrillReport) => (r.kind === 'switchover' ? 'switchover' : `drill ${r.fault}`);

function downtimeText(r: DrillReport): string {
  const d = r.figures.writeDowntimeSeconds;
  if (d === undefined) return 'writes did not resume';
  return `${r.figures.downtimeIsUpperBound ? 'at most ' : ''}${secs(d)}`;
}

const lostText = (r: DrillReport) => (r.figures.lostWrites === undefined ? 'not counted' : String(r.figures.lostWrites));

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** 1, 2 or 5 times a power of ten: the smallest such step that cuts `span` into at most `count` parts. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Date ticks at round UTC times (hours, days, Mondays, first days of months), at most about 7 of them. */
function timeTicks(from: number, to: number): { at: number; label: string }[] {
  const span = to - from;
  const fixed = [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  const step = fixed.find((s) => span / s <= 7);
  if (step !== undefined) {
    // Weeks start on Mondays: 1970-01-01 was a Thursday, the 5th a Monday.
    const origin = step >= 7 * DAY ? 4 * DAY : 0;
    const label = step < DAY ? (t: number) => utcMinute(t).slice(5) : utcDate;
    const ticks = [];
    for (let t = Math.ceil((from - origin) / step) * step + origin; t <= to; t += step) ticks.push({ at: t, label: label(t) });
    return ticks;
  }
  const months = [1, 2, 3, 6, 12, 24, 60].find((m) => span / (m * 30 * DAY) <= 7) ?? 120;
  const start = new Date(from);
  const ticks = [];
  for (let i = 0; ; i++) {
    // Date.UTC rolls month numbers over 11 into the following years.
    const t = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1 + i * months, 1);
    if (t > to) break;
    ticks.push({ at: t, label: utcDate(t).slice(0, 7) });
  }
  return ticks;
}

// The chart's layout, in SVG units; the page scales it down on narrow windows.
const WIDTH = 960;
const PLOT_LEFT = 80;
/** Room on the right for the objective's label, outside the plot so no point covers it. */
const PLOT_RIGHT = WIDTH - 110;
/** Reports whose writes never resumed have no downtime to plot: they go on a row of their own above the plot. */
const NO_RESUME_Y = 26;
const PLOT_TOP = 50;
const PLOT_BOTTOM = 330;
const HEIGHT = 445;
const POINT_RADIUS = 7;

/** The chart of `newestFirst` (at least one report). */
function chartSvg(newestFirst: StoredReport[]): string {
  const points = newestFirst.map((s) => ({ s, at: Date.parse(s.report.injectedAt) })).reverse();
  // The objective of today's topology: the newest report that has one.
  const objective = newestFirst.find((s) => s.report.objectives?.rto_seconds !== undefined)?.report.objectives?.rto_seconds;

  // x: the drills' times, padded so the first and last points are not on the axes.
  const first = points[0]!.at;
  const last = points[points.length - 1]!.at;
  const pad = last > first ? Math.max((last - first) * 0.06, HOUR / 2) : 12 * HOUR;
  const [xFrom, xTo] = [first - pad, last + pad];
  const x = (t: number) => PLOT_LEFT + ((t - xFrom) / (xTo - xFrom)) * (PLOT_RIGHT - PLOT_LEFT);

  // y: from 0 to a round number a bit over everything drawn.
  const highest = Math.max(
    ...points.map((p) => p.s.report.figures.writeDowntimeSeconds ?? 0),
    ...points.map((p) => p.s.report.predicted.expectedSeconds),
    objective ?? 0,
  );
  const headroom = Math.max(highest, 0.5) * 1.1;
  const yStep = niceStep(headroom, 5);
  const yMax = Math.ceil(headroom / yStep) * yStep;
  const y = (v: number) => PLOT_BOTTOM - (v / yMax) * (PLOT_BOTTOM - PLOT_TOP);
  const anyNoResume = points.some((p) => p.s.report.figures.writeDowntimeSeconds === undefined);

  const parts: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12" role="img" aria-label="write downtime of each drill over time">`,
    `<rect class="plot" x="${PLOT_LEFT}" y="${PLOT_TOP}" width="${PLOT_RIGHT - PLOT_LEFT}" height="${PLOT_BOTTOM - PLOT_TOP}" fill="#fcfcfc" stroke="#ccc"/>`,
  ];

  // y axis: seconds.
  for (let v = 0; v <= yMax + yStep / 1000; v += yStep) {
    const vy = px(y(v));
    parts.push(
      `<line class="grid" x1="${PLOT_LEFT}" y1="${vy}" x2="${PLOT_RIGHT}" y2="${vy}" stroke="#e6e6e6"/>`,
      `<text class="tick y" x="${PLOT_LEFT - 8}" y="${vy}" dy="4" text-anchor="end" fill="#555">${escape(secs(v))}</text>`,
    );
  }
  parts.push(
    `<text class="axis-title" transform="translate(20 ${px((PLOT_TOP + PLOT_BOTTOM) / 2)}) rotate(-90)" text-anchor="middle" fill="#333">write downtime (seconds)</text>`,
  );
  if (anyNoResume) {
    parts.push(
      `<line class="no-resume-row" x1="${PLOT_LEFT}" y1="${NO_RESUME_Y}" x2="${PLOT_RIGHT}" y2="${NO_RESUME_Y}" stroke="${FAIL_COLOR}" stroke-opacity="0.4" stroke-dasharray="2 4"/>`,
      `<text class="tick y" x="${PLOT_LEFT - 8}" y="${NO_RESUME_Y}" dy="4" text-anchor="end" fill="${FAIL_COLOR}">no resume</text>`,
    );
  }

  // x axis: dates.
  for (const tick of timeTicks(xFrom, xTo)) {
    const tx = px(x(tick.at));
    parts.push(
      `<line class="grid" x1="${tx}" y1="${PLOT_TOP}" x2="${tx}" y2="${PLOT_BOTTOM}" stroke="#eee"/>`,
      `<line x1="${tx}" y1="${PLOT_BOTTOM}" x2="${tx}" y2="${PLOT_BOTTOM + 5}" stroke="#999"/>`,
      `<text class="tick x" x="${tx}" y="${PLOT_BOTTOM + 19}" text-anchor="middle" fill="#555">${escape(tick.label)}</text>`,
    );
  }
  parts.push(`<text class="axis-title" x="${px((PLOT_LEFT + PLOT_RIGHT) / 2)}" y="${PLOT_BOTTOM + 40}" text-anchor="middle" fill="#333">time of the fault (UTC)</text>`);

  // The lines go under the points, so every point stays clickable.
  if (objective !== undefined) {
    const oy = px(y(objective));
    parts.push(
      `<line class="objective" x1="${PLOT_LEFT}" y1="${oy}" x2="${PLOT_RIGHT}" y2="${oy}" stroke="${FAIL_COLOR}" stroke-width="1.5" stroke-dasharray="7 5"/>`,
      `<text class="objective-label" x="${PLOT_RIGHT + 6}" y="${oy}" dy="4" fill="${FAIL_COLOR}">${escape(`objective ${secs(objective)}`)}</text>`,
    );
  }
  // Predictions depend on the fault (and on the settings): one line per fault, in its ring colour,
  // since a single line through drills of different faults would zigzag and mean nothing. A mark
  // on each drill shows its own prediction, also for a fault drilled once.
  const byFault = new Map<string, { x: number; y: number }[]>();
  for (const p of points) {
    const line = byFault.get(p.s.report.fault) ?? [];
    line.push({ x: x(p.at), y: y(p.s.report.predicted.expectedSeconds) });
    byFault.set(p.s.report.fault, line);
  }
  for (const [fault, line] of byFault) {
    const color = faultColor(fault);
    parts.push(
      `<polyline class="predicted" data-fault="${escape(fault)}" points="${line.map((q) => `${px(q.x)},${px(q.y)}`).join(' ')}" fill="none" stroke="${color}" stroke-opacity="0.6" stroke-width="1.5"/>`,
      ...line.map((q) => `<line class="predicted-mark" x1="${px(q.x - 7)}" y1="${px(q.y)}" x2="${px(q.x + 7)}" y2="${px(q.y)}" stroke="${color}" stroke-width="3"/>`),
    );
  }

  for (const { s, at } of points) {
    const r = s.report;
    const downtime = r.figures.writeDowntimeSeconds;
    const classes = ['point', r.verdict.pass ? 'pass' : 'fail', ...(downtime === undefined ? ['no-resume'] : [])].join(' ');
    const tooltip = [
      s.id,
      `${what(r)} at ${utcMinute(at)} UTC`,
      r.verdict.pass ? 'PASS' : `FAIL: ${r.verdict.reasons.join('; ')}`,
      `write downtime: ${downtimeText(r)}`,
      `lost writes: ${lostText(r)}`,
      `predicted: ${secs(r.predicted.expectedSeconds)}`,
      'click for the timeline',
    ].join('\n');
    parts.push(
      `<a href="${escape(fileUrl(s.files.svg))}">` +
        `<circle class="${classes}" data-report-id="${escape(s.id)}" data-downtime="${downtime ?? ''}" cx="${px(x(at))}" cy="${px(downtime === undefined ? NO_RESUME_Y : y(downtime))}" r="${POINT_RADIUS}" fill="${r.verdict.pass ? PASS_COLOR : FAIL_COLOR}" stroke="${faultColor(r.fault)}" stroke-width="3">` +
        `<title>${escape(tooltip)}</title></circle></a>`,
    );
  }

  parts.push(...legend(points.map((p) => p.s.report), objective !== undefined, anyNoResume));
  parts.push('</svg>');
  return parts.join('\n');
}

/** Two rows under the chart: what the marks mean, then the fault of each ring colour. */
function legend(reports: DrillReport[], withObjective: boolean, withNoResume: boolean): string[] {
  const rowY = [PLOT_BOTTOM + 72, PLOT_BOTTOM + 98];
  // No text measuring without a browser: about 6.5 units a character at font size 12.
  const width = (label: string) => 22 + label.length * 6.5 + 26;
  const row = (yy: number, items: { swatch: string; label: string }[], title: string) => {
    const out = [`<text x="${PLOT_LEFT - 8}" y="${yy + 4}" text-anchor="end" fill="#333" font-weight="bold">${escape(title)}</text>`];
    let cursor = PLOT_LEFT;
    for (const item of items) {
      out.push(`<g transform="translate(${cursor} ${yy})">${item.swatch}<text x="22" y="4" fill="#333">${escape(item.label)}</text></g>`);
      cursor += width(item.label);
    }
    return out;
  };
  const dot = (fill: string, stroke = '#ffffff') => `<circle cx="8" cy="0" r="${POINT_RADIUS - 1}" fill="${fill}" stroke="${stroke}" stroke-width="2"/>`;
  const marks = [
    { swatch: dot(PASS_COLOR), label: 'pass' },
    { swatch: dot(FAIL_COLOR), label: 'fail' },
    ...(withNoResume ? [{ swatch: dot(FAIL_COLOR), label: 'writes did not resume (top row)' }] : []),
    ...(withObjective ? [{ swatch: `<line x1="0" y1="0" x2="18" y2="0" stroke="${FAIL_COLOR}" stroke-width="1.5" stroke-dasharray="5 3"/>`, label: 'objective' }] : []),
    { swatch: `<line x1="0" y1="0" x2="18" y2="0" stroke="#555555" stroke-opacity="0.6" stroke-width="1.5"/><line x1="3" y1="0" x2="15" y2="0" stroke="#555555" stroke-width="3"/>`, label: 'predicted, a line per fault' },
  ];
  // The catalog's order first, then any fault it no longer knows (an old report).
  const present = new Set(reports.map((r) => r.fault as string));
  const faults = [...(FAULT_NAMES as string[]).filter((f) => present.has(f)), ...[...present].filter((f) => !(FAULT_NAMES as string[]).includes(f)).sort()];
  const rings = faults.map((f) => ({ swatch: dot('#ffffff', faultColor(f)).replace('stroke-width="2"', 'stroke-width="3"'), label: f }));
  return [`<g class="legend">`, ...row(rowY[0]!, marks, 'marks'), ...row(rowY[1]!, rings, 'fault'), `</g>`];
}

function reportRow(s: StoredReport): string {
  const r = s.report;
  const verdict = r.verdict.pass ? '<span class="verdict pass">PASS</span>' : '<span class="verdict fail">FAIL</span>';
  const reasons = r.verdict.reasons.length === 0 ? '' : `<ul>${r.verdict.reasons.map((reason) => `<li>${escape(reason)}</li>`).join('')}</ul>`;
  const cells = [
    `<td class="date">${escape(utcMinute(Date.parse(r.injectedAt)))}</td>`,
    `<td class="run">${escape(what(r))}</td>`,
    `<td>${verdict}</td>`,
    `<td class="num${r.figures.writeDowntimeSeconds === undefined ? ' bad' : ''}">${escape(downtimeText(r))}</td>`,
    `<td class="num">${escape(lostText(r))}</td>`,
    `<td class="num">${escape(secs(r.predicted.expectedSeconds))}</td>`,
    `<td class="reasons">${reasons}</td>`,
    `<td class="files"><a class="timeline" href="${escape(fileUrl(s.files.svg))}">timeline</a> <a class="markdown" href="${escape(fileUrl(s.files.markdown))}">report</a></td>`,
  ];
  return `<tr id="report-${escape(s.id)}" title="${escape(s.id)}">${cells.join('')}</tr>`;
}

const STYLE = `
body { font-family: sans-serif; color: #222; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 6px; }
.summary { color: #444; margin: 0 0 18px; }
.summary b { color: #222; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart a:hover circle { stroke-width: 5; }
table { border-collapse: collapse; width: 100%; margin-top: 20px; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e2e2e2; }
th { background: #f3f3f3; }
td.num { text-align: right; white-space: nowrap; }
td.date, td.run, td.files { white-space: nowrap; }
.summary span { white-space: nowrap; }
td.bad { color: #b02a1e; }
td.reasons ul { margin: 0; padding-left: 16px; }
.verdict { font-weight: bold; padding: 1px 6px; border-radius: 3px; }
.verdict.pass { color: #1d6b3a; background: #dff3e6; }
.verdict.fail { color: #8f2015; background: #fbe1de; }
.empty { background: #f6f6f6; border: 1px solid #ddd; padding: 16px 20px; }
code { background: #eee; padding: 1px 4px; border-radius: 3px; }
`;

/**
 * The trend page of a cluster's reports (as listReports gives them: newest first). `generatedAt`
 * defaults to now; a test passes it to get the same page every time.
 */
export function trendPage(cluster: string, reports: StoredReport[], opts: { generatedAt?: Date } = {}): string {
  const generatedAt = (opts.generatedAt ?? new Date()).toISOString();
  // They come newest first; sorting by time again costs nothing and spares the chart any caller's order.
  const newestFirst = [...reports].sort((a, b) => Date.parse(b.report.injectedAt) - Date.parse(a.report.injectedAt));
  const passed = reports.filter((s) => s.report.verdict.pass).length;
  const downtimes = reports.map((s) => s.report.figures.writeDowntimeSeconds).filter((d): d is number => d !== undefined);
  const mid = median(downtimes);
  const noResume = reports.length - downtimes.length;
  const objective = newestFirst.find((s) => s.report.objectives)?.report.objectives;

  const summary =
    reports.length === 0
      ? ['no drills yet', `generated at ${escape(generatedAt)}`]
      : [
          `<b>${reports.length}</b> ${reports.length === 1 ? 'drill' : 'drills'}`,
          `pass rate <b>${Math.round((passed / reports.length) * 100)}%</b> (${passed} of ${reports.length})`,
          `median write downtime <b>${mid === undefined ? 'n/a' : escape(secs(mid))}</b>${noResume > 0 ? ` (${noResume} did not resume)` : ''}`,
          objective ? `objectives: write downtime ≤ ${escape(secs(objective.rto_seconds))}, lost writes ≤ ${objective.lost_writes}` : 'no objective set',
          `generated at ${escape(generatedAt)}`,
        ];

  const body =
    reports.length === 0
      ? [
          `<div class="empty">`,
          `<p>There is no drill yet for cluster <b>${escape(cluster)}</b>.</p>`,
          `<p>Run one with <code>haflow drill ${escape(cluster)} --fault &lt;fault&gt;</code>, where &lt;fault&gt; is one of ${FAULT_NAMES.map((f) => `<code>${escape(f)}</code>`).join(', ')}.</p>`,
          `</div>`,
        ]
      : [
          chartSvg(newestFirst),
          `<table>`,
          `<thead><tr><th>fault at (UTC)</th><th>run</th><th>verdict</th><th>write downtime</th><th>lost writes</th><th>predicted</th><th>reasons</th><th>files</th></tr></thead>`,
          `<tbody>`,
          ...newestFirst.map(reportRow),
          `</tbody>`,
          `</table>`,
        ];

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing to load and nothing to run: a page opened from disk stays on disk.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escape(`haflow drills: ${cluster}`)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>Failover drills of <span class="cluster">${escape(cluster)}</span></h1>`,
    `<p class="summary">${summary.map((item) => `<span>${item}</span>`).join(' · ')}</p>`,
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
