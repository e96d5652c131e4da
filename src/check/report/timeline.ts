// The timeline of the HTML report: an inline SVG with one lane per process and one bar per
// operation, from its invoke to its completion (x = position in the history, so every event gets
// its own column and no clock is needed). Indeterminate ops run to the end of the drawn window,
// dashed. The failing op, its concurrent ops and anomaly ops are outlined; a linearization (e.g.
// the longest linearizable prefix) is drawn as a polyline through numbered points, each inside
// its op's interval and in order.
//
// Bounds (a 10k-op history must stay readable and the file small): at most WINDOW_EVENTS_MAX
// events are drawn — a window around the failure when the history is longer — and at most
// LANES_MAX lanes; what is left out is counted in `notes`. Every string from the history goes
// through escape.ts.
import { canonicalKey, pairOps, type PairedOp } from '../consistency/ops.ts';
import type { History, ProcessId } from '../history.ts';
import { RETURN_NEVER } from '../types.ts';
import { num, text, truncate } from './escape.ts';

export const WINDOW_EVENTS_MAX = 1200;
export const LANES_MAX = 160;
export const LINEARIZATION_MARKERS_MAX = 400;
export const TOOLTIP_CHARS_MAX = 2000;

const LANE_PX = 24;
const BAR_PX = 16;
const MARGIN_LEFT_PX = 90;
const MARGIN_TOP_PX = 28;
const CHAR_PX = 6.6;

export interface TimelineInput {
  readonly history: History;
  /** History index of the failing op's invoke. */
  readonly failingOp?: number;
  /** History indices of the invokes of the ops concurrent with the failing one. */
  readonly concurrentOps?: ReadonlySet<number>;
  /** Invoke indices in linearization order (e.g. the longest linearizable prefix). */
  readonly linearization?: readonly number[];
  /** History indices (invoke or completion) of ops that an anomaly names. */
  readonly flaggedOps?: ReadonlySet<number>;
}

export interface Timeline {
  readonly svg: string;
  /** Human notes on what was left out. */
  readonly notes: readonly string[];
  /** First and one-past-last history index drawn. */
  readonly windowStart: number;
  readonly windowEnd: number;
}

function valueLabel(op: PairedOp): string {
  if (op.status === 'ok' && op.output !== undefined && canonicalKey(op.output) !== canonicalKey(op.input)) {
    return isNilOrEmpty(op.input) ? canonicalKey(op.output) : `${canonicalKey(op.input)} → ${canonicalKey(op.output)}`;
  }
  return isNilOrEmpty(op.input) ? '' : canonicalKey(op.input);
}

function isNilOrEmpty(value: unknown): boolean {
  return value === null || value === undefined;
}

function processLabel(process: ProcessId): string {
  return typeof process === 'number' ? `p${process}` : String(process);
}

function compareProcess(a: ProcessId, b: ProcessId): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Chooses the window of events to draw: everything, or WINDOW_EVENTS_MAX around the focus. */
function chooseWindow(eventCount: number, focus: number | undefined): [number, number] {
  if (eventCount <= WINDOW_EVENTS_MAX) return [0, eventCount];
  const center = focus ?? 0;
  const start = Math.max(0, Math.min(eventCount - WINDOW_EVENTS_MAX, center - Math.floor(WINDOW_EVENTS_MAX / 2)));
  return [start, start + WINDOW_EVENTS_MAX];
}

export function renderTimeline(input: TimelineInput): Timeline {
  const { ops } = pairOps(input.history);
  const notes: string[] = [];
  const flagged = input.flaggedOps ?? new Set<number>();
  const concurrent = input.concurrentOps ?? new Set<number>();
  const isFlagged = (op: PairedOp) =>
    flagged.has(op.invoke.index) || (op.completion !== undefined && flagged.has(op.completion.index));
  const highlighted = (op: PairedOp) =>
    op.invoke.index === input.failingOp || concurrent.has(op.invoke.index) || isFlagged(op);
  const byInvoke = new Map<number, PairedOp>();
  for (const op of ops) byInvoke.set(op.invoke.index, op);

  let focus: number | undefined;
  const failing = input.failingOp === undefined ? undefined : byInvoke.get(input.failingOp);
  if (failing !== undefined) focus = failing.call;
  else {
    for (const op of ops) {
      if (isFlagged(op)) {
        focus = op.completion?.index ?? op.call;
        break;
      }
    }
  }
  const [lo, hi] = chooseWindow(input.history.length, focus);
  if (lo > 0 || hi < input.history.length) {
    notes.push(
      `Showing history events ${lo}–${hi - 1} of ${input.history.length} (${WINDOW_EVENTS_MAX} events around ${focus === undefined ? 'the start' : 'the failure'}).`,
    );
  }

  // Ops to draw: those overlapping the window. Indeterminate ops invoked before it would add a
  // dashed lane each (crashed processes are never reused), so they are only drawn if highlighted.
  let hiddenInfo = 0;
  const drawn = ops.filter((op) => {
    if (op.call >= hi || op.ret < lo) return false;
    if (op.call < lo && op.status === 'info' && !highlighted(op)) {
      hiddenInfo++;
      return false;
    }
    return true;
  });
  if (hiddenInfo > 0) notes.push(`${hiddenInfo} indeterminate ops invoked before the window are not drawn.`);

  const lanesAll = [...new Set(drawn.map((op) => op.process))];
  let lanes = lanesAll.sort(compareProcess);
  if (lanes.length > LANES_MAX) {
    // Keep the lanes that explain the failure first: the failing op's, anomaly ops', then lanes
    // with an op invoked inside the window, then the rest (e.g. long-running indeterminate ops).
    const rank = new Map<ProcessId, number>();
    for (const op of drawn) {
      const r =
        op.invoke.index === input.failingOp
          ? 0
          : isFlagged(op)
            ? 1
            : op.call >= lo && op.status !== 'info'
              ? 2
              : op.call >= lo
                ? 3
                : 4;
      rank.set(op.process, Math.min(rank.get(op.process) ?? 5, r));
    }
    const keep = new Set(
      [...lanes].sort((a, b) => (rank.get(a) ?? 5) - (rank.get(b) ?? 5) || compareProcess(a, b)).slice(0, LANES_MAX),
    );
    notes.push(`${lanes.length - keep.size} of ${lanes.length} process lanes are not drawn (at most ${LANES_MAX}).`);
    lanes = lanes.filter((p) => keep.has(p));
  }
  const laneOf = new Map<ProcessId, number>(lanes.map((p, i) => [p, i]));

  const events = Math.max(1, hi - lo);
  const eventPx = Math.max(10, Math.min(28, 1800 / events));
  const width = MARGIN_LEFT_PX + events * eventPx + 24;
  const height = MARGIN_TOP_PX + lanes.length * LANE_PX + 24;
  const x = (position: number) => MARGIN_LEFT_PX + (position - lo + 0.5) * eventPx;
  const laneY = (lane: number) => MARGIN_TOP_PX + lane * LANE_PX;
  const endX = x(hi - 1) + eventPx * 0.5;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" role="img" aria-label="timeline of operations">`,
  );
  // Lanes and axis. Process labels go in their own group, drawn last over a background, which the
  // report's script keeps at the visible left edge while the timeline scrolls sideways.
  const pidParts: string[] = [
    `<g class="pids"><rect class="pid-bg" x="0" y="0" width="${MARGIN_LEFT_PX - 4}" height="${num(height)}"/>`,
  ];
  lanes.forEach((p, i) => {
    const y = laneY(i);
    parts.push(
      `<rect class="lane${i % 2 === 0 ? '' : ' odd'}" x="0" y="${num(y)}" width="${num(width)}" height="${LANE_PX}"/>`,
    );
    pidParts.push(
      `<text class="pid" x="6" y="${num(y + LANE_PX / 2 + 4)}">${text(truncate(processLabel(p), 12))}<title>${text(processLabel(p))}</title></text>`,
    );
  });
  pidParts.push('</g>');
  const tickEvery = Math.max(1, Math.ceil(60 / eventPx / 5) * 5);
  for (let pos = Math.ceil(lo / tickEvery) * tickEvery; pos < hi; pos += tickEvery) {
    parts.push(
      `<line class="tick" x1="${num(x(pos))}" y1="${MARGIN_TOP_PX - 6}" x2="${num(x(pos))}" y2="${num(height - 20)}"/>`,
    );
    parts.push(`<text class="axis" x="${num(x(pos))}" y="${MARGIN_TOP_PX - 10}">${pos}</text>`);
  }

  // Bars. Highlighted ops are drawn last so their outlines sit on top.
  const ordered = [...drawn].sort((a, b) => Number(highlighted(a)) - Number(highlighted(b)) || a.call - b.call);
  for (const op of ordered) {
    const lane = laneOf.get(op.process);
    if (lane === undefined) continue;
    const open = op.ret === RETURN_NEVER || op.ret >= hi;
    const x0 = op.call < lo ? MARGIN_LEFT_PX : x(op.call) - eventPx * 0.4;
    const x1 = open ? endX : x(op.ret) + eventPx * 0.4;
    const y = laneY(lane) + (LANE_PX - BAR_PX) / 2;
    const classes: string[] = [op.status];
    if (op.invoke.index === input.failingOp) classes.push('failing');
    else if (concurrent.has(op.invoke.index)) classes.push('concurrent');
    if (isFlagged(op)) classes.push('flagged');
    if (op.status === 'info') classes.push('open');
    const label = `${op.f} ${valueLabel(op)}`.trim();
    const keyPart = op.key === '' ? '' : ` key=${op.key}`;
    const where = `invoke #${op.call}, ${op.completion === undefined ? 'never completed' : `${op.completion.type} #${op.ret === RETURN_NEVER ? op.completion.index : op.ret}`}`;
    const tooltip = truncate(
      `op ${op.invoke.index}: ${processLabel(op.process)} ${op.f}${keyPart} ${valueLabel(op)} [${op.status}] (${where})`,
      TOOLTIP_CHARS_MAX,
    );
    const charsFit = Math.floor((x1 - x0 - 6) / CHAR_PX);
    parts.push(
      `<g class="${classes.join(' ')}" id="op-${op.invoke.index}" data-op="${op.invoke.index}"><title>${text(tooltip)}</title>` +
        `<rect x="${num(x0)}" y="${num(y)}" width="${num(Math.max(2, x1 - x0))}" height="${BAR_PX}" rx="3"/>` +
        (charsFit >= 2
          ? `<text x="${num(x0 + 3)}" y="${num(y + BAR_PX - 4)}">${text(truncate(label, charsFit))}</text>`
          : '') +
        '</g>',
    );
  }

  // Linearization: greedy earliest points, each in [call, ret] and not before the previous one.
  const order = input.linearization ?? [];
  if (order.length > 0) {
    const points: string[] = [];
    const markers: string[] = [];
    let t = Number.NEGATIVE_INFINITY;
    order.forEach((invokeIndex, i) => {
      const op = byInvoke.get(invokeIndex);
      if (op === undefined) return;
      const ret = op.ret === RETURN_NEVER ? Number.POSITIVE_INFINITY : op.ret;
      t = Math.min(Math.max(t + 0.05, op.call + 0.25), ret - 0.25);
      const lane = laneOf.get(op.process);
      if (lane === undefined || t < lo || t >= hi) return;
      const px = x(t - 0.5) + eventPx * 0.5;
      const py = laneY(lane) + LANE_PX / 2;
      points.push(`${num(px)},${num(py)}`);
      if (markers.length < LINEARIZATION_MARKERS_MAX) {
        markers.push(
          `<g class="lin-point"><title>${text(`linearized #${i + 1}: op ${invokeIndex}`)}</title><circle cx="${num(px)}" cy="${num(py)}" r="7"/><text x="${num(px)}" y="${num(py + 3)}">${i + 1}</text></g>`,
        );
      }
    });
    if (points.length > 1) parts.push(`<polyline class="lin" points="${points.join(' ')}"/>`);
    parts.push(...markers);
    if (points.length > LINEARIZATION_MARKERS_MAX) {
      notes.push(`Only the first ${LINEARIZATION_MARKERS_MAX} linearization points in the window are numbered.`);
    }
  }
  parts.push(...pidParts, '</svg>');
  return { svg: parts.join('\n'), notes, windowStart: lo, windowEnd: hi };
}

/** Exposed for the report's legend and tests: the class names a bar may carry. */
export const BAR_CLASSES = ['ok', 'fail', 'info', 'failing', 'concurrent', 'flagged', 'open'] as const;
