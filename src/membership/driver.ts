// Runs the membership core over an Env: persists the incarnation, ticks on a timer, sends what the
// core returns, and turns its outputs into metrics and log lines. Identical in the simulator and
// in a real node; it sees only the Env.
//
// Incarnation file: `membership/incarnation` holds the last incarnation as `<decimal> <fnv1a32 of
// the decimal, 8 hex digits>\n`. On start we read it, add one, and make the new value durable
// (writeFileAtomic: temp, sync, rename, syncDir) before sending anything, so a restarted node is
// always newer than every message of its past. A disk error anywhere throws out of the start
// before the new value is used. The checksum is why a read is believed: swarm seed 344 saw two
// consecutive reads of "3" both flipped to "1" (one-byte file, same bit), so "two reads agree"
// handed out incarnation 2 again. A read that does not verify is read again. Two copies are kept
// (`incarnation` and `incarnation.2`), the larger verified one believed; if neither verifies
// (torn, rotten, or a pre-checksum file) the wall clock stands in, as it does when there is no
// file at all (bumpIncarnation). A wall clock stepped back across a wipe can still start a life
// below an earlier one; peers then answer its pings with Stale (membership.ts), the driver writes
// what they know as a floor (`incarnation.learned` marks it) and exits with IncarnationBehindError,
// and the next start is above it. A real process exits non-zero: its supervisor restarts it.

import { diskReadAttemptsMax, mkdirpDurable, readWholeFile, writeFileAtomic } from '../env/disk-io.ts';
import type { Env, Gauge } from '../env/types.ts';
import { IncarnationBehindError } from '../lib/errors.ts';
import type { MessageRouter } from '../lib/router.ts';
import { fnv1a32 } from '../lib/hash.ts';
import { MessageType } from '../lib/message-types.ts';
import { Membership, type MembershipConfig, type PeerStatus, type PeerView, type Step } from './membership.ts';

export type MembershipTiming = Omit<MembershipConfig, 'self' | 'peers' | 'incarnation'>;

const STATUS_CODE: Record<PeerStatus, number> = { unknown: 0, alive: 1, suspect: 2, dead: 3 };
const INCARNATION_DIR = 'membership';
const INCARNATION_FILE = 'membership/incarnation';
/**
 * A second copy, written after the first: rot in one file's sectors no longer loses the last
 * incarnation (swarm seed 467: the one file rotted, the wall clock stood in, and a clock skewed
 * back 0.7 s handed out an incarnation below the previous life's). The larger verified copy wins.
 */
const INCARNATION_FILES = [INCARNATION_FILE, 'membership/incarnation.2'] as const;
/** Present while the last incarnation on disk was learned from a peer (a Stale notice). */
const INCARNATION_LEARNED_FILE = 'membership/incarnation.learned';
/** The core is ticked this many times per heartbeat period, so detection lags by at most 1/4 period. */
const TICKS_PER_HEARTBEAT = 4;

/** The file's content for incarnation `n`: the decimal and its checksum. */
export function encodeIncarnation(n: number): string {
  const text = String(n);
  return `${text} ${fnv1a32(text).toString(16).padStart(8, '0')}\n`;
}

/** The incarnation a read of the file shows, or undefined when the read does not verify. */
export function decodeIncarnation(content: string): number | undefined {
  const m = /^(\d{1,16}) ([0-9a-f]{8})\n$/.exec(content);
  if (m === null || fnv1a32(m[1]!) !== Number.parseInt(m[2]!, 16)) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The last incarnation on disk, or undefined when no read of the file verified. */
function readIncarnation(env: Env, file: string): { previous: number | undefined; text: string } {
  const readText = (): string => new TextDecoder().decode(readWholeFile(env.disk, file).subarray(0, 64));
  let text = readText();
  if (env.mutations.has('membership-incarnation-unverified')) {
    // The old rule: believe the content once two consecutive reads agree, without a checksum.
    let agreed = false;
    for (let attempt = 1; attempt < diskReadAttemptsMax && !agreed; attempt++) {
      const again = readText();
      agreed = again === text;
      text = again;
    }
    const parsed = Number.parseInt(text, 10);
    return { previous: agreed && Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : undefined, text };
  }
  for (let attempt = 1; ; attempt++) {
    const previous = decodeIncarnation(text);
    if (previous !== undefined || attempt >= diskReadAttemptsMax) return { previous, text };
    text = readText();
  }
}

/**
 * The next incarnation, durable before it is returned: max(last + 1, wall clock in ms). The file
 * gives `last`; without a readable one (a first life, a wiped data directory, a file torn or rotten
 * for every read) nothing on this disk says what earlier lives used, and the wall clock stands in.
 * Following the wall clock on every start keeps a life after a wipe above every earlier life
 * (each started at an earlier wall time) however many restarts came before; only a clock stepped
 * back across the wipe could repeat one. Counting lives from 1 made a node wiped while its
 * cluster was still being created repeat its first life's 1 (swarm seed 572) and a wiped node that
 * rejoined repeat its earlier ones (seeds 5 and 7); the leader's forwarded-request dedup is keyed
 * by (sender incarnation, request id).
 */
export function bumpIncarnation(env: Env): number {
  return startIncarnation(env).incarnation;
}

/** The start's incarnation, and whether a file on disk said what the last life used. */
export interface StartIncarnation {
  readonly incarnation: number;
  /** False when no copy verified (a first life, a wiped data directory): the wall clock stood in. */
  readonly remembered: boolean;
}

/** bumpIncarnation, also saying whether the files remembered the last life. */
export function startIncarnation(env: Env): StartIncarnation {
  const disk = env.disk;
  // Durable directory creation: the simulator found restarts reusing incarnation 1 when only the
  // file, not the directory entry holding it, had been synced.
  mkdirpDurable(disk, INCARNATION_DIR);
  let last = 0;
  let remembered = false;
  for (const file of incarnationFiles(env)) {
    if (!disk.exists(file)) continue;
    const read = readIncarnation(env, file);
    if (read.previous !== undefined) {
      last = Math.max(last, read.previous);
      remembered = true;
    } else env.log.warn({ file, text: read.text }, 'membership: unreadable incarnation file');
  }
  // A floor learned from a peer (raiseIncarnationFloor) says what one peer heard, not what every
  // earlier life used: another peer may know a later one.
  const learned = disk.exists(INCARNATION_LEARNED_FILE);
  const next = Math.max(last + 1, Math.floor(env.clock.wallMs()));
  writeIncarnation(env, next);
  if (learned) {
    disk.remove(INCARNATION_LEARNED_FILE);
    disk.syncDir(INCARNATION_DIR);
  }
  return { incarnation: next, remembered: remembered && !learned };
}

/**
 * Records `known` as the last incarnation used, so the next start takes `known + 1` or more: a
 * peer heard this node at `known` in an earlier life (membership.ts, Stale).
 */
export function raiseIncarnationFloor(env: Env, known: number): void {
  writeIncarnation(env, known);
  writeFileAtomic(env.disk, INCARNATION_LEARNED_FILE, [new TextEncoder().encode(`${known}\n`)]);
}

// The second copy is consulted only in the mutation's absence (the planted bug is the old rule).
function incarnationFiles(env: Env): readonly string[] {
  return env.mutations.has('membership-incarnation-unverified') ? [INCARNATION_FILE] : INCARNATION_FILES;
}

/**
 * Durable before it returns (and so before anything is sent): a write, sync or rename error throws
 * here and the node does not start with an incarnation a later life could repeat. Each copy is made
 * durable before the next is written, so a crash leaves at least one whole copy.
 */
function writeIncarnation(env: Env, n: number): void {
  for (const file of incarnationFiles(env))
    writeFileAtomic(env.disk, file, [new TextEncoder().encode(encodeIncarnation(n))]);
}

export class MembershipDriver {
  readonly core: Membership;
  readonly incarnation: number;
  private readonly gauges = new Map<string, { status: Gauge; phi: Gauge; offset: Gauge; delay: Gauge }>();
  private readonly timer;

  constructor(
    private readonly env: Env,
    router: Pick<MessageRouter, 'register'>,
    peers: readonly string[],
    timing: MembershipTiming,
    // The node host bumps the incarnation once per start and hands it to every service.
    incarnation: number = bumpIncarnation(env),
    /** Whether the incarnation files remembered the last life (ServiceContext.incarnationRemembered). */
    readonly remembered = true,
  ) {
    this.incarnation = incarnation;
    this.core = new Membership(
      { self: env.nodeId, peers, incarnation: this.incarnation, ...timing },
      env.clock.monotonicMs(),
    );
    const m = env.metrics;
    for (const peer of peers) {
      const labels = { peer };
      this.gauges.set(peer, {
        status: m.gauge(
          'membership_peer_status',
          'Peer status as this node sees it: 0 unknown, 1 alive, 2 suspect, 3 dead',
          labels,
        ),
        phi: m.gauge('membership_peer_phi', 'Phi-accrual suspicion level of the peer', labels),
        offset: m.gauge('clock_offset_ms', "NTP-style estimate of the peer's wall clock minus ours", labels),
        delay: m.gauge('clock_round_trip_delay_ms', 'NTP-style round-trip delay to the peer', labels),
      });
    }
    env.metrics.gauge('membership_incarnation', 'This node incarnation (grows on every start)').set(this.incarnation);
    router.register([MessageType.MembershipPing, MessageType.MembershipAck, MessageType.MembershipStale], (m) =>
      this.apply(this.core.receive(m.from, m.type, m.payload, env.clock.monotonicMs(), env.clock.wallMs()), m.from),
    );
    this.timer = env.timers.every(Math.max(1, Math.floor(timing.heartbeatIntervalMs / TICKS_PER_HEARTBEAT)), () => {
      this.apply(this.core.tick(env.clock.monotonicMs(), env.clock.wallMs()));
      this.updateGauges();
    });
    env.log.info({ incarnation: this.incarnation, peers }, 'membership: started');
  }

  view(): PeerView[] {
    return this.core.view(this.env.clock.monotonicMs());
  }

  /** Changes whenever a peer's status does (Membership.statusVersion). */
  get statusVersion(): number {
    return this.core.statusVersion;
  }

  stop(): void {
    this.timer.cancel();
  }

  private apply(step: Step, from?: string): void {
    if (step.behind !== undefined && !this.env.mutations.has('membership-ignore-stale-notice')) {
      // Durable first: the exit below must leave the next start above what the peer knows.
      raiseIncarnationFloor(this.env, step.behind);
      this.timer.cancel();
      this.env.log.error(
        { incarnation: this.incarnation, known: step.behind, peer: from },
        'membership: a peer knows this node at a higher incarnation; exiting to start above it',
      );
      throw new IncarnationBehindError(this.incarnation, step.behind, from ?? '?');
    }
    for (const m of step.messages) this.env.transport.send(m.to, m.type, m.payload);
    for (const c of step.changes) {
      this.env.metrics.counter('membership_status_changes_total', 'Peer status transitions', { to: c.to }).inc();
      this.env.log.info(
        { peer: c.peer, from: c.from, to: c.to, incarnation: c.incarnation, restarted: c.restarted },
        'membership: peer status changed',
      );
    }
    for (const r of step.rejected) {
      this.env.metrics.counter('membership_rejected_total', 'Membership messages rejected', { reason: r.reason }).inc();
    }
  }

  private updateGauges(): void {
    for (const v of this.core.view(this.env.clock.monotonicMs())) {
      const g = this.gauges.get(v.id);
      if (g === undefined) continue;
      g.status.set(STATUS_CODE[v.status]);
      g.phi.set(Math.round(v.phi * 100) / 100);
      if (v.clock !== undefined) {
        g.offset.set(v.clock.offsetMs);
        g.delay.set(v.clock.delayMs);
      }
    }
  }
}
