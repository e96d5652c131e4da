// Normalised observations of a scripted ZooKeeper client session, so that the same script run
// against two servers gives equal observations iff the servers behaved the same as far as a client
// can tell — apart from the numbers two correct servers legitimately differ in:
// - zxids (czxid, mzxid, pzxid) become their rank among every zxid the transcript shows (z1 < z2 ...):
//   the values go, their order (e.g. "mzxid > czxid", "created before") stays;
// - session ids (ephemeralOwner) become s1, s2 ... in order of first appearance; 0 stays 0;
// - ctime/mtime are dropped; host:port becomes HOST:PORT; the script's root path becomes /R.
// Everything else (versions, data lengths, children counts, data, error messages, sequential names,
// notification lines) is kept verbatim.
//
// Steps are marked first (raw numbers wrapped as ⟨zxid:N⟩ / ⟨session:N⟩), then ranked over the whole
// transcript, because a rank needs every value at once.

export interface RawStep {
  /** Which client ran it (A, B, ...). */
  readonly who: string;
  readonly command: string;
  readonly output: readonly string[];
}

/** A normalised step: the unit two runs are compared by. */
export interface Observation {
  readonly who: string;
  readonly command: string;
  readonly output: readonly string[];
}

export const zxidMark = (value: bigint): string => `⟨zxid:${value}⟩`;
export const sessionMark = (value: bigint): string => (value === 0n ? '0' : `⟨session:${value}⟩`);

const statLine = /^(cZxid|mZxid|pZxid|ctime|mtime|ephemeralOwner) = (.*)$/;

/** zkCli-specific pre-pass: marks the numbers in stat output, drops times, hides ports and the root. */
export function markZkCliStep(step: RawStep, root: string): RawStep {
  const output: string[] = [];
  for (const line of sortedEphemerals(step)) {
    const stat = statLine.exec(line);
    if (stat === null) {
      output.push(hideRootAndPorts(line, root));
      continue;
    }
    const [, field, value] = stat as unknown as [string, string, string];
    if (field === 'ctime' || field === 'mtime') continue;
    const n = BigInt(value);
    output.push(`${field} = ${field === 'ephemeralOwner' ? sessionMark(n) : zxidMark(n)}`);
  }
  return { who: step.who, command: hideRootAndPorts(step.command, root), output };
}

// ZooKeeper answers getEphemerals from a hash set: its order is unspecified, so it is sorted.
function sortedEphemerals(step: RawStep): readonly string[] {
  if (!step.command.startsWith('getEphemerals')) return step.output;
  return step.output.map((l) => (/^\[.*\]$/.test(l) ? `[${l.slice(1, -1).split(', ').sort().join(', ')}]` : l));
}

export function hideRootAndPorts(text: string, root: string): string {
  return text
    .split(root)
    .join('/R')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}:\d+\b/g, 'HOST:PORT');
}

/** Replaces marks by ranks over the whole transcript. */
export function normalise(steps: readonly RawStep[]): Observation[] {
  const zxids = new Set<bigint>();
  const sessions: bigint[] = [];
  const scan = /⟨(zxid|session):(-?\d+)⟩/g;
  for (const s of steps) {
    for (const line of [s.command, ...s.output]) {
      for (const m of line.matchAll(scan)) {
        const v = BigInt(m[2]!);
        if (m[1] === 'zxid') zxids.add(v);
        else if (!sessions.includes(v)) sessions.push(v);
      }
    }
  }
  const ranked = [...zxids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const zxidName = new Map(ranked.map((v, i) => [v, `z${i + 1}`]));
  const rewrite = (line: string): string =>
    line.replace(scan, (_all, kind: string, digits: string) => {
      const v = BigInt(digits);
      return kind === 'zxid' ? zxidName.get(v)! : `s${sessions.indexOf(v) + 1}`;
    });
  return steps.map((s) => ({ who: s.who, command: rewrite(s.command), output: s.output.map(rewrite) }));
}

/** undefined when equal; otherwise where the first difference is, with both sides. */
export function compareObservations(
  left: readonly Observation[],
  right: readonly Observation[],
  names: readonly [string, string] = ['left', 'right'],
): string | undefined {
  const n = Math.max(left.length, right.length);
  for (let i = 0; i < n; i++) {
    const a = left[i];
    const b = right[i];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const show = (o: Observation | undefined): string =>
      o === undefined ? '(no step)' : `${o.who}> ${o.command}\n    ${o.output.join('\n    ')}`;
    return `step ${i} differs:\n  ${names[0]}: ${show(a)}\n  ${names[1]}: ${show(b)}`;
  }
  return undefined;
}

/** Observations as text, one step per `who> command` line and its output as `  | line`: the golden files' form. */
export function renderObservations(obs: readonly Observation[]): string {
  const out: string[] = [];
  for (const o of obs) {
    out.push(`${o.who}> ${o.command}`);
    for (const line of o.output) out.push(line === '' ? '  |' : `  | ${line}`);
  }
  return `${out.join('\n')}\n`;
}
