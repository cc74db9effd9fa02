// The trend page of a cluster's drill reports (client/trend-page.ts), opened the way an operator
// opens it: from a file:// URL in a browser, here Debian's Chromium, headless. From the DOM it
// dumps: one point per report, with its verdict and its link; from its screenshots: the points
// are drawn (hiding them changes the picture). Plus the empty page and the escaping, as text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import type { StoredReport } from '../../client/report-store';
import { trendPage } from '../../client/trend-page';
import type { DrillReport } from '../../runbooks/report';
import type { FaultName } from '../../topology/faults';
import { requires } from '../support/requires';
import { findExecutable } from '../support/topologies';

// ---- made-up reports ----

interface Made {
  at: string;
  fault?: FaultName;
  /** undefined: writes did not resume. */
  downtime: number | undefined;
  predicted?: number;
  lost?: number;
  reasons?: string[];
  cluster?: string;
  rto?: number;
}

function drill(m: Made): DrillReport {
  const fault = m.fault ?? 'crash-leader';
  const at = Date.parse(m.at);
  const iso = (s: number) => new Date(at + s * 1000).toISOString();
  return {
    kind: fault === 'switchover' ? 'switchover' : 'drill',
    cluster: m.cluster ?? 'serviceops',
    fault,
    target: 'node1',
    oldLeader: 'node1',
    startedAt: iso(-5),
    injectedAt: iso(0),
    finishedAt: iso(40),
    figures: {
      writeDowntimeSeconds: m.downtime,
      failedWrites: 120,
      acknowledgedWrites: 300,
      lostWrites: m.lost,
      newLeader: 'node2',
      phases: {},
      splitBrain: false,
    },
    predicted: { expectedSeconds: m.predicted ?? 12, worstSeconds: (m.predicted ?? 12) + 6, formula: 'made up' },
    objectives: m.rto === undefined ? undefined : { rto_seconds: m.rto, lost_writes: 0 },
    verdict: { pass: (m.reasons ?? []).length === 0, reasons: m.reasons ?? [] },
    timeline: [{ t: 0, what: `fault: ${fault} on node1` }],
    probe: {
      intervalMs: 100,
      attempts: 450,
      acked: [[1, 300]],
      drill: 'made-up',
      ackedBy: { '127.0.0.12': 300 },
      outages: [],
      interruptions: [],
      stoppedBecause: 'made up',
      lostCheck: 'made up',
    },
    settings: { ttl: 10, loop_wait: 2, retry_timeout: 5, inter: 1, fall: 2, rise: 1, synchronous_mode: 'off' },
    notes: [],
  };
}

/** A stored report whose files are under `dir` (written by writeReportFiles). */
function stored(dir: string, m: Made): StoredReport {
  const report = drill(m);
  const id = `${report.injectedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${report.kind}-${report.fault}`;
  const base = join(dir, id);
  return { id, workflowId: `haflow-cluster-${report.cluster}`, runId: `run-${id}`, report, files: { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` } };
}

/** Newest first, as listReports gives them: passes, a failure over the 30 s objective, and writes that never resumed. */
function sixReports(dir: string): StoredReport[] {
  return [
    stored(dir, { at: '2026-03-20T10:00:00Z', fault: 'crash-leader', downtime: 14.2, predicted: 16.5, lost: 0, rto: 30 }),
    stored(dir, { at: '2026-03-13T10:00:00Z', fault: 'switchover', downtime: 3.1, predicted: 2, lost: 0, rto: 30 }),
    stored(dir, { at: '2026-03-06T10:00:00Z', fault: 'stop-patroni', downtime: 41.5, predicted: 4.3, lost: 0, rto: 30, reasons: ['write downtime 41.5 s, over the objective of 30 s'] }),
    stored(dir, {
      at: '2026-02-27T10:00:00Z',
      fault: 'crash-observer',
      downtime: undefined,
      predicted: 24,
      reasons: ['writes did not resume before the observation ended', 'lost writes could not be counted: no leader'],
    }),
    stored(dir, { at: '2026-02-20T10:00:00Z', fault: 'kill-postgres', downtime: 2.4, predicted: 2.5, lost: 0 }),
    stored(dir, { at: '2026-02-13T10:00:00Z', fault: 'crash-leader', downtime: 18, predicted: 16.5, lost: 0 }),
  ];
}

function writeReportFiles(reports: StoredReport[]): void {
  for (const s of reports) {
    writeFileSync(s.files.json, JSON.stringify(s));
    writeFileSync(s.files.markdown, `# ${s.id}\n`);
    writeFileSync(s.files.svg, `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>${s.id}</title></svg>`);
  }
}

const GENERATED_AT = new Date('2026-03-21T08:00:00Z');

// ---- reading the dumped DOM: tags and their attributes, no parser needed for what we ask ----

const unescape = (text: string) => text.replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);

function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, name, value]) => [name!, unescape(value!)]));
}

/** The chart's points, each with the href of the link around it and its tooltip. */
function pointsOf(dom: string): (Record<string, string> & { href: string; tooltip: string })[] {
  return [...dom.matchAll(/<a ([^>]*)>\s*<circle ([^>]*)>(?:<title>([^<]*)<\/title>)?/g)]
    .map(([, a, circle, title]): Record<string, string> & { href: string; tooltip: string } => ({ ...attributes(circle!), href: attributes(a!).href ?? '', tooltip: unescape(title ?? '') }))
    .filter((p) => (p.class ?? '').split(' ').includes('point'));
}

// ---- Chromium: one headless run, never outliving the test ----

const chromium = findExecutable('chromium');
const noChromium = requires(chromium ? false : 'chromium is not installed (Debian package chromium)');

/**
 * Chromium's processes still alive (zombies do not count: they are gone, just not reaped): those
 * of its process group, and its crash handler, which starts a session of its own but names the
 * profile's directory on its command line (its database is under XDG_CONFIG_HOME, set below).
 * Linux /proc.
 */
function leftBehind(pgid: number, profile: string): number[] {
  const live: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid pgrp ...: the comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      if (Number(pgrp) === pgid || readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(profile)) live.push(Number(entry));
    } catch {
      // it exited while we looked
    }
  }
  return live;
}

const killAll = (pids: number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
};

/**
 * Runs Chromium headless on `url` with a fresh profile under `scratch`, killed (every process it
 * started: zygote, GPU, utility, crash handler) after `timeoutMs`. Returns its stdout.
 */
async function headless(scratch: string, args: string[], url: string, timeoutMs = 30_000): Promise<string> {
  const profile = mkdtempSync(join(scratch, 'profile-'));
  const child = spawn(
    chromium!,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--disable-extensions', `--user-data-dir=${profile}`, ...args, url],
    {
      // Its own process group, so a timeout can kill the processes it started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // What it writes besides the profile (the crash handler's database, the NSS database, its
      // singleton socket in TMPDIR) goes under the profile too, and is removed with it.
      env: { ...process.env, HOME: profile, XDG_CONFIG_HOME: join(profile, 'config'), XDG_CACHE_HOME: join(profile, 'cache'), TMPDIR: profile },
    },
  );
  const pgid = child.pid!;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killAll(leftBehind(pgid, profile));
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  clearTimeout(timer);
  // The browser has exited and its helpers follow it within moments; the test makes sure of it.
  for (let i = 0; i < 30 && leftBehind(pgid, profile).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  const stragglers = leftBehind(pgid, profile);
  killAll(stragglers);
  rmSync(profile, { recursive: true, force: true });
  assert.deepEqual(stragglers, [], 'chromium left processes behind');
  assert.ok(!timedOut, `chromium did not finish within ${timeoutMs} ms; stderr:\n${stderr}`);
  assert.equal(code, 0, `chromium exited with ${code}; stderr:\n${stderr}`);
  return stdout;
}

// ---- reading Chromium's screenshots: 8-bit RGB or RGBA, not interlaced ----

function decodePng(png: Buffer): { width: number; height: number; channels: number; pixels: Buffer } {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'not a PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
      const [depth, colorType, interlace] = [data[8], data[9], data[12]];
      assert.ok(depth === 8 && (colorType === 2 || colorType === 6) && interlace === 0, `unexpected PNG format: depth ${depth}, colour type ${colorType}, interlace ${interlace}`);
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  // Each row starts with its filter type; undo it against the row above (PNG spec, section 9).
  for (let row = 0; row < height; row++) {
    const filter = raw[row * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const value = raw[row * (stride + 1) + 1 + i]!;
      const left = i >= channels ? pixels[row * stride + i - channels]! : 0;
      const up = row > 0 ? pixels[(row - 1) * stride + i]! : 0;
      const upLeft = row > 0 && i >= channels ? pixels[(row - 1) * stride + i - channels]! : 0;
      const p = left + up - upLeft;
      const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
      const paeth = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      const predictor = [0, left, up, (left + up) >> 1, paeth][filter!];
      assert.ok(predictor !== undefined, `unknown PNG filter ${filter}`);
      pixels[row * stride + i] = (value + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** How many pixels differ clearly (in any of red, green, blue) between two screenshots of the same size. */
function differingPixels(a: Buffer, b: Buffer): number {
  const [pa, pb] = [decodePng(a), decodePng(b)];
  assert.deepEqual([pa.width, pa.height, pa.channels], [pb.width, pb.height, pb.channels]);
  let count = 0;
  for (let i = 0; i < pa.pixels.length; i += pa.channels) {
    if ([0, 1, 2].some((c) => Math.abs(pa.pixels[i + c]! - pb.pixels[i + c]!) > 48)) count++;
  }
  return count;
}

// ---- the tests ----

describe('the trend page in headless Chromium', { skip: noChromium }, () => {
  let scratch: string;
  let reports: StoredReport[];
  let pageUrl: string;

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'haflow-trend-'));
    // A directory name to escape in HTML and to encode in a URL.
    const dir = join(scratch, 'reports & "more"');
    mkdirSync(dir);
    reports = sixReports(dir);
    writeReportFiles(reports);
    const page = join(scratch, 'trend.html');
    writeFileSync(page, trendPage('serviceops', reports, { generatedAt: GENERATED_AT }));
    pageUrl = pathToFileURL(page).href;
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('one point per report, oldest to newest, with its verdict, its downtime and a link to its timeline', async () => {
    const dom = await headless(scratch, ['--dump-dom'], pageUrl);
    assert.match(dom, /<svg class="chart"/, 'the chart is in the page');

    const points = pointsOf(dom);
    assert.equal((dom.match(/<circle [^>]*class="point[ "]/g) ?? []).length, reports.length, 'exactly one circle.point per report');
    const oldestFirst = [...reports].reverse();
    assert.deepEqual(
      points.map((p) => p['data-report-id']),
      oldestFirst.map((s) => s.id),
    );
    assert.deepEqual(
      points.map((p) => p.class),
      oldestFirst.map((s) => `point ${s.report.verdict.pass ? 'pass' : 'fail'}${s.report.figures.writeDowntimeSeconds === undefined ? ' no-resume' : ''}`),
    );
    assert.deepEqual(
      points.map((p) => p['data-downtime']),
      oldestFirst.map((s) => String(s.report.figures.writeDowntimeSeconds ?? '')),
    );
    assert.deepEqual(
      points.map((p) => fileURLToPath(p.href)),
      oldestFirst.map((s) => s.files.svg),
      "each point links to its report's timeline picture",
    );
    for (const p of points) assert.ok(existsSync(fileURLToPath(p.href)), `${p.href} opens a file`);
    for (const [i, p] of points.entries()) {
      const r = oldestFirst[i]!.report;
      for (const part of [oldestFirst[i]!.id, r.fault, r.verdict.pass ? 'PASS' : 'FAIL', 'write downtime', 'lost writes']) assert.ok(p.tooltip.includes(part), `the tooltip of ${p['data-report-id']} says ${part}: ${p.tooltip}`);
    }

    // Left to right in time, inside the chart; the higher the downtime, the higher the point.
    const [, width, height] = /viewBox="0 0 (\d+) (\d+)"/.exec(dom)!.map(Number);
    const xs = points.map((p) => Number(p.cx));
    const ys = points.map((p) => Number(p.cy));
    for (const [i, p] of points.entries()) assert.ok(xs[i]! > 0 && xs[i]! < width! && ys[i]! > 0 && ys[i]! < height!, `point ${p['data-report-id']} at (${p.cx}, ${p.cy}) is inside the chart`);
    assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
    const byDowntime = points.filter((p) => p['data-downtime'] !== '').sort((a, b) => Number(a['data-downtime']) - Number(b['data-downtime']));
    assert.deepEqual(
      byDowntime.map((p) => Number(p.cy)),
      byDowntime.map((p) => Number(p.cy)).sort((a, b) => b - a),
    );
    const noResume = points.find((p) => p['data-downtime'] === '')!;
    assert.equal(Number(noResume.cy), Math.min(...ys), 'writes that never resumed are drawn at the top');
    assert.match(dom, /<circle [^>]*class="point fail no-resume"[^>]*><title>[^<]*writes did not resume/);

    assert.match(dom, /<line class="objective"/);
    assert.match(dom, /objective 30 s/);
    // The predictions of a fault drilled twice are joined.
    assert.match(dom, /<polyline class="predicted" data-fault="crash-leader" points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
    // The table: every report, newest first, with its timeline and Markdown report.
    const rows = [...dom.matchAll(/<tr id="report-([^"]+)"/g)].map(([, id]) => unescape(id!));
    assert.deepEqual(rows, reports.map((s) => s.id));
    const links = (cls: string) => [...dom.matchAll(new RegExp(`<a class="${cls}" href="([^"]*)"`, 'g'))].map(([, href]) => fileURLToPath(unescape(href!)));
    assert.deepEqual(links('timeline'), reports.map((s) => s.files.svg));
    assert.deepEqual(links('markdown'), reports.map((s) => s.files.markdown));
  });

  test('the screenshot shows the points: hiding them changes it where they are', async () => {
    const shot = async (name: string, html: string) => {
      const page = join(scratch, `${name}.html`);
      writeFileSync(page, html);
      const png = join(scratch, `${name}.png`);
      await headless(scratch, [`--screenshot=${png}`, '--window-size=1200,900', '--hide-scrollbars'], pathToFileURL(page).href);
      assert.ok(existsSync(png), `no screenshot at ${png}`);
      return png;
    };
    const html = trendPage('serviceops', reports, { generatedAt: GENERATED_AT });
    const png = await shot('shown', html);
    assert.ok(statSync(png).size > 20_000, `a ${statSync(png).size}-byte screenshot is too small to hold a chart`);
    const hidden = await shot('hidden', html.replace('</head>', '<style>.point { visibility: hidden; }</style></head>'));
    // A point is a circle of radius 7 with a 3-wide ring: about 200 pixels; allow for the lines behind it.
    const changed = differingPixels(readFileSync(png), readFileSync(hidden));
    assert.ok(changed > reports.length * 100, `hiding the ${reports.length} points changed only ${changed} pixels`);
    // To look at it: HAFLOW_KEEP_SCREENSHOT=/tmp/trend.png node --import tsx --test test/unit/trend-page.test.ts
    if (process.env.HAFLOW_KEEP_SCREENSHOT) writeFileSync(process.env.HAFLOW_KEEP_SCREENSHOT, readFileSync(png));
  });
});

test('with no report: says there is no drill yet and how to run one; no chart, no point', () => {
  const html = trendPage('serviceops', [], { generatedAt: GENERATED_AT });
  assert.match(html, /no drill yet/);
  assert.match(html, /haflow drill serviceops --fault &lt;fault&gt;/);
  assert.match(html, /crash-leader/, 'lists the faults');
  assert.doesNotMatch(html, /<circle/);
  assert.doesNotMatch(html, /<svg/);
  assert.match(html, /generated at 2026-03-21T08:00:00.000Z/);
});

test('the header: cluster, number of drills, pass rate, median write downtime, generation time', () => {
  const html = trendPage('serviceops', sixReports('/var/lib/haflow/reports/serviceops'), { generatedAt: GENERATED_AT });
  const summary = /<p class="summary">(.*)<\/p>/.exec(html)?.[1] ?? '';
  assert.match(html, /<h1>Failover drills of <span class="cluster">serviceops<\/span><\/h1>/);
  assert.match(summary, /<b>6<\/b> drills/);
  assert.match(summary, /pass rate <b>67%<\/b> \(4 of 6\)/);
  // Of 2.4, 3.1, 14.2, 18 and 41.5 (the sixth never resumed).
  assert.match(summary, /median write downtime <b>14\.2 s<\/b> \(1 did not resume\)/);
  assert.match(summary, /objectives: write downtime ≤ 30 s, lost writes ≤ 0/);
  assert.match(summary, /generated at 2026-03-21T08:00:00\.000Z/);
});

test('escapes what it writes: cluster names, reasons, file paths', () => {
  const evil = '<script>alert("x")</script> & co';
  const report = stored('/tmp/<script>&/reports', { at: '2026-03-01T00:00:00Z', downtime: 5, cluster: evil, reasons: [`${evil}'s reason`] });
  const html = trendPage(evil, [report], { generatedAt: GENERATED_AT });
  assert.doesNotMatch(html, /<script/i, 'no script element, from any text');
  assert.doesNotMatch(html, /& co/, 'a bare ampersand');
  assert.match(html, /<h1>Failover drills of <span class="cluster">&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; co<\/span><\/h1>/);
  assert.match(html, /<li>&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; co&#39;s reason<\/li>/);
  // The path is a URL (%3C for <), and its & is escaped in the attribute.
  assert.match(html, /href="file:\/\/\/tmp\/%3Cscript%3E&amp;\/reports\//);
});
