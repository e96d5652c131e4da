// The self-contained HTML report of `barista check --html`: per checked file, a summary (verdict,
// model, op count, elapsed time, reason), the anomalies or the failing op, and the timeline
// (timeline.ts). No external assets: inline CSS, inline SVG, a few lines of inline JS that only
// scroll the first failure into view. Several files make one report with one section each;
// valid files get a summary line, not a timeline (that is where nothing needs looking at).
//
// Invariants: everything that came from a history file is escaped (escape.ts); the page is also
// well-formed XML (every element closed, the script free of `<` and `&`), which the tests check.
import type { Op } from '../history.ts';
import type { CheckResult, Operation, Verdict } from '../types.ts';
import type { ConsistencyResult } from '../consistency/types.ts';
import { attr, text, truncate } from './escape.ts';
import { renderTimeline } from './timeline.ts';

/** Anomalies listed per section (the rest are counted). */
export const REPORT_ANOMALIES_MAX = 100;
/** Timelines drawn per report by default (each can be a few hundred kB). */
export const REPORT_TIMELINES_MAX = 50;
/** Characters of a reason/detail line shown. */
export const REPORT_LINE_CHARS_MAX = 600;

export interface ReportAnomaly {
  readonly kind: string;
  readonly detail: string;
  /** History indices of the ops involved. */
  readonly opIndices: readonly number[];
}

export interface ReportSection {
  /** The file checked (shown, escaped). */
  readonly source: string;
  readonly model: string;
  readonly verdict: Verdict;
  readonly reason?: string;
  readonly elapsedMs: number;
  readonly history: readonly Op[];
  readonly failingKey?: string;
  readonly failingOp?: Operation;
  readonly concurrentOps?: readonly Operation[];
  readonly longestPrefix?: readonly Operation[];
  readonly anomalies?: readonly ReportAnomaly[];
  readonly stats?: Readonly<Record<string, number>>;
}

/** A section from a linearizability (or other core) CheckResult. */
export function sectionFromCheckResult(
  base: { source: string; model: string; elapsedMs: number; history: readonly Op[] },
  result: CheckResult,
): ReportSection {
  const anomalies = (result.anomalies ?? []).map((a) => ({
    kind: a.kind,
    detail: a.message,
    opIndices: a.ops.map((op) => op.index),
  }));
  return {
    ...base,
    verdict: result.verdict,
    ...(result.reason === undefined ? {} : { reason: result.reason }),
    ...(result.failingKey === undefined ? {} : { failingKey: result.failingKey }),
    ...(result.failingOp === undefined ? {} : { failingOp: result.failingOp }),
    ...(result.concurrentOps === undefined ? {} : { concurrentOps: result.concurrentOps }),
    ...(result.longestPrefix === undefined ? {} : { longestPrefix: result.longestPrefix }),
    ...(anomalies.length === 0 ? {} : { anomalies }),
    stats: { ...result.stats },
  };
}

/** A section from a consistency check's result. */
export function sectionFromConsistencyResult(
  base: { source: string; model: string; elapsedMs: number; history: readonly Op[] },
  result: ConsistencyResult,
): ReportSection {
  return {
    ...base,
    verdict: result.verdict,
    ...(result.reason === undefined ? {} : { reason: result.reason }),
    anomalies: result.anomalies.map((a) => ({
      kind: a.kind,
      detail: a.detail,
      opIndices: [a.op.index, ...(a.related ?? []).map((op) => op.index)],
    })),
    stats: { ...result.stats },
  };
}

const CSS = `
body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:16px;color:#1f2328;background:#fff}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:18px 0 6px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;color:#fff}
.badge.valid{background:#2da44e}.badge.invalid{background:#cf222e}.badge.unknown{background:#9a6700}
table.summary td{padding:1px 10px 1px 0;vertical-align:top}table.summary td:first-child{color:#57606a}
.note{color:#57606a;font-style:italic}.anomalies li{margin:2px 0}.kind{font-family:ui-monospace,monospace;color:#cf222e}
.scroll{overflow:auto;max-height:80vh;border:1px solid #d0d7de;margin-top:6px}
.legend span{display:inline-block;margin-right:12px}.sw{display:inline-block;width:14px;height:10px;border:1px solid;vertical-align:middle;margin-right:4px}
.timeline text{font:11px ui-monospace,SFMono-Regular,Menlo,monospace;fill:#1f2328}
.timeline .lane{fill:#fff}.timeline .lane.odd{fill:#f6f8fa}
.timeline .tick{stroke:#eaeef2}.timeline .axis{fill:#8c959f;text-anchor:middle;font-size:10px}
.timeline .pid{font-weight:600}
.timeline .pid-bg{fill:#fff;opacity:.94}
.timeline .ok rect,.sw.ok{fill:#dafbe1;background:#dafbe1;stroke:#2da44e;border-color:#2da44e}
.timeline .fail rect,.sw.fail{fill:#ffebe9;background:#ffebe9;stroke:#cf222e;border-color:#cf222e}
.timeline .info rect,.sw.info{fill:#fff8c5;background:#fff8c5;stroke:#9a6700;border-color:#9a6700}
.timeline .open rect{stroke-dasharray:5 3}
.timeline .concurrent rect,.sw.concurrent{stroke:#0969da;stroke-width:2.5;border:2px solid #0969da}
.timeline .failing rect,.timeline .flagged rect,.sw.failing{stroke:#cf222e;stroke-width:3.5;border:3px solid #cf222e}
.timeline .lin{fill:none;stroke:#8250df;stroke-width:2;opacity:.8}
.timeline .lin-point circle{fill:#8250df}.timeline .lin-point text{fill:#fff;font-size:9px;text-anchor:middle}
`;

// Scrolls the first failure into view. Kept free of '<' and '&' so the page stays valid XML.
const SCRIPT = `
(function () {
  var first = document.querySelector('.timeline .failing, .timeline .flagged');
  if (first) { if (first.scrollIntoView) { first.scrollIntoView({ block: 'center', inline: 'center' }); } }
  document.querySelectorAll('.scroll').forEach(function (box) {
    var pids = box.querySelector('.pids');
    if (!pids) { return; }
    var pin = function () { pids.setAttribute('transform', 'translate(' + box.scrollLeft + ',0)'); };
    box.addEventListener('scroll', pin);
    pin();
  });
})();
`;

function row(label: string, value: string): string {
  return `<tr><td>${text(label)}</td><td>${value}</td></tr>`;
}

function describeOperation(op: Operation): string {
  const hasInput = op.input !== undefined && op.input !== null;
  const result = op.status === 'ok' && op.output !== undefined ? showJson(op.output) : undefined;
  const value =
    result === undefined ? showJson(op.input) : hasInput ? `${showJson(op.input)} → ${result}` : `→ ${result}`;
  const key = op.key === undefined ? '' : ` key=${op.key}`;
  return `op ${op.invoke.index}: p${String(op.process)} ${op.f}${key} ${value} (${op.status})`;
}

function showJson(value: unknown): string {
  if (value === undefined || value === null) return 'nil';
  try {
    return truncate(
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value),
      200,
    );
  } catch {
    return truncate(String(value), 200);
  }
}

function renderSection(section: ReportSection, withTimeline: boolean): string {
  const out: string[] = [];
  out.push(
    `<section><h2><span class="badge ${attr(section.verdict)}">${text(section.verdict)}</span> ${text(section.source)}</h2>`,
  );
  out.push('<table class="summary">');
  out.push(row('model', text(section.model)));
  out.push(row('history events', String(section.history.length)));
  if (section.stats?.ops !== undefined) out.push(row('operations checked', String(section.stats.ops)));
  out.push(row('elapsed', `${section.elapsedMs.toFixed(1)} ms`));
  if (section.reason !== undefined) {
    out.push(
      row(
        section.verdict === 'unknown' ? 'reason (unknown)' : 'reason',
        text(truncate(section.reason, REPORT_LINE_CHARS_MAX)),
      ),
    );
  }
  if (section.failingKey !== undefined && section.failingKey !== '')
    out.push(row('failing key', text(section.failingKey)));
  if (section.failingOp !== undefined)
    out.push(row('failing op', `<b>${text(describeOperation(section.failingOp))}</b>`));
  if (section.concurrentOps !== undefined) out.push(row('concurrent ops', String(section.concurrentOps.length)));
  if (section.longestPrefix !== undefined)
    out.push(row('longest linearizable prefix', `${section.longestPrefix.length} ops`));
  out.push('</table>');
  const anomalies = section.anomalies ?? [];
  if (anomalies.length > 0) {
    out.push('<ol class="anomalies">');
    for (const a of anomalies.slice(0, REPORT_ANOMALIES_MAX)) {
      out.push(`<li><span class="kind">${text(a.kind)}</span> ${text(truncate(a.detail, REPORT_LINE_CHARS_MAX))}</li>`);
    }
    out.push('</ol>');
    if (anomalies.length > REPORT_ANOMALIES_MAX)
      out.push(`<p class="note">${anomalies.length - REPORT_ANOMALIES_MAX} more anomalies not listed.</p>`);
  }
  if (withTimeline) {
    // A partitioned check failed on one key: draw that key's ops only.
    const key = section.failingKey;
    const keyed = key !== undefined && section.history.every((op) => op.key !== undefined);
    const history = keyed ? section.history.filter((op) => op.key === key) : section.history;
    const timeline = renderTimeline({
      history,
      ...(section.failingOp === undefined ? {} : { failingOp: section.failingOp.invoke.index }),
      concurrentOps: new Set((section.concurrentOps ?? []).map((op) => op.invoke.index)),
      linearization: (section.longestPrefix ?? []).map((op) => op.invoke.index),
      flaggedOps: new Set(anomalies.flatMap((a) => a.opIndices)),
    });
    if (keyed) out.push(`<p class="note">Timeline of key ${text(key)} only.</p>`);
    for (const note of timeline.notes) out.push(`<p class="note">${text(note)}</p>`);
    out.push(`<div class="scroll">${timeline.svg}</div>`);
  }
  out.push('</section>');
  return out.join('\n');
}

const LEGEND =
  '<p class="legend"><span><i class="sw ok"></i>ok</span><span><i class="sw fail"></i>fail</span>' +
  '<span><i class="sw info"></i>info (indeterminate, dashed to the end)</span><span><i class="sw failing"></i>failing op / anomaly</span>' +
  '<span><i class="sw concurrent"></i>concurrent with the failing op</span><span>numbered purple points: linearization found, in order</span>' +
  '<span>hover a bar for its full text</span></p>';

/**
 * Renders one report for one or more checked files. Sections that are not valid come first and
 * get a timeline (up to timelinesMax); valid ones are listed.
 */
export function renderHtmlReport(
  sections: readonly ReportSection[],
  options: { title?: string; timelinesMax?: number } = {},
): string {
  const timelinesMax = options.timelinesMax ?? REPORT_TIMELINES_MAX;
  const title =
    options.title ?? (sections.length === 1 ? `barista check: ${sections[0]?.source ?? ''}` : 'barista check');
  const count = (v: Verdict) => sections.filter((s) => s.verdict === v).length;
  const problems = sections.filter((s) => s.verdict !== 'valid');
  const valid = sections.filter((s) => s.verdict === 'valid');
  const body: string[] = [];
  body.push(`<h1>${text(title)}</h1>`);
  if (sections.length > 1) {
    body.push(
      `<p>${sections.length} files: ${count('valid')} valid, ${count('invalid')} invalid, ${count('unknown')} unknown.</p>`,
    );
  }
  body.push(LEGEND);
  problems.forEach((section, i) => {
    body.push(renderSection(section, i < timelinesMax));
  });
  if (problems.length > timelinesMax) {
    body.push(
      `<p class="note">Timelines drawn for the first ${timelinesMax} of ${problems.length} files that are not valid.</p>`,
    );
  }
  // A single valid file still gets its timeline (with the linearization when there is one).
  for (const section of valid) body.push(renderSection(section, sections.length === 1));
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8"/>',
    '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
    `<title>${text(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
