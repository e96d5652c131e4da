// Ring moves on a node (N > 1): the operator's join and decommission, from any node, and the
// moving node's completion of them.
//
//   BARISTA RING                   the ring as this node applied it, and the move's progress when
//                                  this node is the moving one
//   BARISTA RING JOIN node         node (a cluster node off the ring, alive) joins: a compare-and-set
//                                  of the ring with the node `joining`, its tokens drawn here
//   BARISTA RING LEAVE node        node (on the ring) is decommissioned: `leaving`
//   BARISTA RING ABORT             the move in progress is cancelled (a joining node leaves the ring,
//                                  a leaving one stays)
//
// The steps of a move (src/dynamo/ring.ts, "Movement"): 1. begin (a committed ring change: every
// coordinator then writes to the pending replicas too); 2. the moving node streams (its replica's
// MoveRunner, src/dynamo/move.ts, after the ring delay); 3. the moving node, seeing its streams
// done and durable, proposes completeMove — checked every `checkIntervalMs` here, so a restart or a
// lost proposal only delays it; 4. the old replicas keep their copies (no cleanup yet).
// Every change is a compare-and-set on the ring version this node applied (ring-keeper.ts): a
// conflict means another change won; the operator asks again.
//
// Refused (ERR, nothing changed): N = 1 (the single-owner keyspace does not stream), a node that is
// not a cluster node or is already on the ring, a node the failure detector does not call alive, a
// decommission that would leave fewer ring nodes than N, a second move while one runs.

import type { Logger, NodeId, Timer, Timers } from '../../env/types.ts';
import type { BaristaError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import type { MoveProgress } from '../../dynamo/move.ts';
import { chooseTokens, describeSettings, type Ring, RingChangeError } from '../../dynamo/ring.ts';
import type { RingKeeper } from './ring-keeper.ts';

export interface RingMoverDeps {
  readonly self: NodeId;
  readonly keeper: RingKeeper;
  /** The replica's move progress (ReplicaNode.moveProgress). */
  readonly progress: () => MoveProgress | undefined;
  /** Every node of the cluster (this one and its peers). */
  readonly clusterNodes: readonly NodeId[];
  /** The failure detector's opinion (this node is always alive to itself). */
  readonly isAlive: (node: NodeId) => boolean;
  readonly timers: Timers;
  readonly log: Logger;
  readonly tokensPerNode: number;
  /** N. */
  readonly replicas: number;
  readonly checkIntervalMs: number;
}

export type RingChangeOutcome = { ok: true; ring: Ring } | { ok: false; message: string };

export class RingMover {
  private timer: Timer | undefined;
  private completing = false;
  private stopped = false;

  constructor(private readonly deps: RingMoverDeps) {}

  start(): void {
    const check = (): void => {
      if (this.stopped) return;
      this.maybeComplete();
      this.timer = this.deps.timers.after(this.deps.checkIntervalMs, check);
    };
    this.timer = this.deps.timers.after(this.deps.checkIntervalMs, check);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  get ring(): Ring {
    return this.deps.keeper.ring;
  }

  progress(): MoveProgress | undefined {
    return this.deps.progress();
  }

  join(node: NodeId, done: (o: RingChangeOutcome) => void): void {
    const ring = this.ring;
    if (!this.deps.clusterNodes.includes(node)) return done(refused(`${node} is not a node of this cluster`));
    if (ring.nodes.some((n) => n.id === node)) return done(refused(`${node} is on the ring already`));
    if (!this.deps.isAlive(node)) return done(refused(`${node} is not alive (the failure detector's view here)`));
    this.change(
      ring,
      () =>
        ring.beginJoin(
          node,
          chooseTokens(new SeededRng(`ring/${node}/${ring.version}`), this.deps.tokensPerNode, ring),
        ),
      done,
    );
  }

  leave(node: NodeId, done: (o: RingChangeOutcome) => void): void {
    const ring = this.ring;
    if (!ring.nodes.some((n) => n.id === node)) return done(refused(`${node} is not on the ring`));
    if (ring.naturalNodes.length - 1 < this.deps.replicas) {
      return done(
        refused(
          `decommissioning ${node} would leave ${ring.naturalNodes.length - 1} ring nodes for N = ${this.deps.replicas}`,
        ),
      );
    }
    this.change(ring, () => ring.beginLeave(node), done);
  }

  abort(done: (o: RingChangeOutcome) => void): void {
    const ring = this.ring;
    this.change(ring, () => ring.abortMove(), done);
  }

  private change(ring: Ring, next: () => Ring, done: (o: RingChangeOutcome) => void): void {
    let proposed: Ring;
    try {
      proposed = next();
    } catch (error) {
      if (error instanceof RingChangeError) return done(refused(error.message));
      throw error;
    }
    this.deps.keeper.propose(ring.version, proposed, (o) => {
      if (!o.ok) return done(refused(describe(o.error)));
      if (o.result.status === 'conflict') {
        return done(refused(`the ring changed meanwhile (now version ${o.result.version}): ask again`));
      }
      if (o.result.status !== 'applied') return done(refused('the ring state machine refused the change as invalid'));
      this.deps.log.info({ version: proposed.version, moving: proposed.moving?.id }, 'store: ring change committed');
      done({ ok: true, ring: proposed });
    });
  }

  /** The moving node's step 3: its streams done and durable, complete the move. */
  private maybeComplete(): void {
    const ring = this.ring;
    if (this.completing || ring.moving?.id !== this.deps.self) return;
    const p = this.deps.progress();
    if (p === undefined || !p.done) return;
    this.completing = true;
    this.change(
      ring,
      () => ring.completeMove(),
      (o) => {
        this.completing = false;
        if (o.ok) this.deps.log.info({ kind: p.kind, version: o.ring.version }, 'store: ring move completed');
        else
          this.deps.log.warn({ kind: p.kind, err: o.message }, 'store: ring move completion not committed; retrying');
      },
    );
  }
}

function refused(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

function describe(error: BaristaError): string {
  return `${error.code}: ${error.message}`;
}

/** BARISTA RING's text: the ring's version and nodes, then the move as this node sees it. */
export function formatRing(ring: Ring, progress: MoveProgress | undefined): string {
  const lines = [
    `version ${ring.version}`,
    `settings ${ring.settings === undefined ? 'none yet' : describeSettings(ring.settings)}`,
  ];
  for (const n of ring.nodes) lines.push(`${n.id} ${n.state} tokens ${n.tokens.length}`);
  const moving = ring.moving;
  if (moving === undefined) lines.push('move none');
  else if (progress === undefined) lines.push(`move ${moving.state} ${moving.id} (progress on ${moving.id})`);
  else {
    const done = progress.transfers.filter((t) => t.done).length;
    const entries = progress.transfers.reduce((s, t) => s + t.entries, 0);
    lines.push(
      `move ${progress.kind} ${progress.node} streams ${done}/${progress.transfers.length} done entries ${entries}` +
        (progress.delayTicksLeft > 0 ? ` ring-delay-ticks ${progress.delayTicksLeft}` : '') +
        (progress.done ? ' complete-pending' : ''),
    );
    for (const t of progress.transfers) {
      lines.push(
        `  ${t.direction} ${t.direction === 'pull' ? 'from' : 'to'} ${t.peer} ranges ${t.ranges} pages ${t.pages} entries ${t.entries} retries ${t.retries}${t.done ? ' done' : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
