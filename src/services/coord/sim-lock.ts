// The coord simulator workload's lock contender: the recipe of src/zkclient/recipes/lock.ts
// (ZooKeeper's "Locks": an ephemeral sequential child of /lock, the lowest holds, every other
// waits on the child just before its own; after a connection loss during the create, the
// contender finds its child by its session prefix) in callback form, since the simulator runs
// synchronously and cannot await promises. The holder presents its fencing token (its child's
// czxid) to the workload's guarded register on taking the lock and before releasing it; now and
// then it holds for longer than a session timeout, so that a holder cut off from the service
// outlives its session (a zombie the register must fence). A waiter gives up (deletes its child)
// after lockWaitMsMax. `lockGrantsOnPredecessorGone` plants the classic bug: a waiter whose
// predecessor goes takes the lock without looking again (a middle waiter leaving is not the
// holder releasing).

import { CreateMode, EventType, ZkErr } from '../../coord/codes.ts';
import type { SeededRng } from '../../lib/rng.ts';
import type { ServiceHost } from '../../node/service.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { type ZkClient, zkCalls } from '../../zkclient/client.ts';
import { isZkError } from '../../zkclient/errors.ts';
import { join, sortedSequential } from '../../zkclient/recipes/common.ts';
import type { AppliedFacts, LockRegister } from './sim-checks.ts';
import type { CoordWorkloadOptions } from './sim-workload.ts';

const LOCK_DIR = '/lock';

export interface LockContext {
  readonly sim: Simulation<ServiceHost>;
  readonly rng: SeededRng;
  readonly facts: AppliedFacts;
  readonly register: LockRegister;
  readonly options: Pick<
    CoordWorkloadOptions,
    'lockWaitMsMax' | 'lockHoldMsMax' | 'sessionTimeoutMs' | 'lockGrantsOnPredecessorGone'
  >;
  /** Counts a grant. */
  granted(): void;
}

/** The contender: one session of a workload slot. */
export interface LockSession {
  readonly id: number;
  readonly client: ZkClient;
  /** Still the slot's current session. */
  live(): boolean;
  setLongHold(long: boolean): void;
}

/** One lock cycle of contender `s`: join the queue, wait on the predecessor, hold, release; then `end`. */
export function runLockCycle(ctx: LockContext, s: LockSession, end: () => void): void {
  const o = ctx.options;
  const prefix = `lock-${s.id.toString(16)}-`;
  const startedMs = ctx.sim.nowMs;
  const id = s.id;
  const c = s.client;
  const giveUp = (path: string): void => deleteChild(ctx, s, path, end);
  const check = (path: string, token: number): void => {
    if (!s.live() || (c.state !== 'connected' && c.state !== 'connecting')) return end();
    c.callWith(zkCalls.getChildren(LOCK_DIR), (e, r) => {
      if (e !== null || r === undefined) return isZkError(e, ZkErr.connectionLoss) ? retry(path, token) : end();
      const queue = sortedSequential(r.children, 'lock-');
      const name = path.slice(path.lastIndexOf('/') + 1);
      const i = queue.indexOf(name);
      if (i < 0) return end(); // our child is gone: the session ended
      if (i === 0) return hold(ctx, s, { token, path, sessionId: id, grantedAtZxid: Number(c.lastZxidSeen) }, end);
      if (ctx.sim.nowMs - startedMs > o.lockWaitMsMax) return giveUp(path);
      const predecessor = join(LOCK_DIR, queue[i - 1]!);
      let woken = false;
      const wake = (ev: { type: number }): void => {
        if (woken) return;
        woken = true;
        if (o.lockGrantsOnPredecessorGone && ev.type === EventType.nodeDeleted) {
          return hold(ctx, s, { token, path, sessionId: id, grantedAtZxid: Number(c.lastZxidSeen) }, end);
        }
        check(path, token);
      };
      c.callWith(zkCalls.exists(predecessor, wake), (e2, stat) => {
        if (e2 !== null) return isZkError(e2, ZkErr.connectionLoss) ? retry(path, token) : end();
        const look = (): void => {
          if (woken) return;
          woken = true;
          check(path, token);
        };
        // Gone already: look again. Else wait for the watch, or look again after the wait bound
        // (then a waiter that waited too long gives up).
        if (stat === null) look();
        else ctx.sim.after(o.lockWaitMsMax, look, 'coord-lock-wait');
      });
    });
  };
  const retry = (path: string, token: number): void =>
    void ctx.sim.after(50, () => check(path, token), 'coord-lock-retry');
  const create = (): void => {
    c.callWith(zkCalls.create2(join(LOCK_DIR, prefix), '', { mode: CreateMode.ephemeralSequential }), (e, r) => {
      if (e === null && r !== undefined) {
        ctx.facts.trackPath(r.path, Number(r.stat.czxid));
        return check(r.path, Number(r.stat.czxid));
      }
      if (!isZkError(e, ZkErr.connectionLoss) || !s.live()) return end();
      // The create may have applied: look for our child before creating another (the recipe's rule).
      ctx.sim.after(50, () => findMine(), 'coord-lock-find');
    });
  };
  const findMine = (): void => {
    if (!s.live() || c.state === 'expired') return end();
    c.callWith(zkCalls.getChildren(LOCK_DIR), (e, r) => {
      if (e !== null || r === undefined) {
        if (isZkError(e, ZkErr.connectionLoss)) return void ctx.sim.after(50, findMine, 'coord-lock-find');
        return end();
      }
      const mine = r.children.find((n) => n.startsWith(prefix));
      if (mine === undefined) return create();
      const path = join(LOCK_DIR, mine);
      c.callWith(zkCalls.exists(path), (e2, stat) => {
        if (e2 !== null || stat === undefined || stat === null) return create();
        ctx.facts.trackPath(path, Number(stat.czxid));
        check(path, Number(stat.czxid));
      });
    });
  };
  create();
}

/** Holds the lock: presents the token on taking it and once more while holding, then releases. */
function hold(
  ctx: LockContext,
  s: LockSession,
  h: { token: number; path: string; sessionId: number; grantedAtZxid: number },
  end: () => void,
): void {
  ctx.granted();
  ctx.register.present(h, ctx.sim.nowMs);
  // Now and then a long hold, so that a holder cut off from the service outlives its session.
  const o = ctx.options;
  const long = ctx.rng.chance(0.1);
  s.setLongHold(long);
  const holdMs = long ? o.sessionTimeoutMs * (1 + ctx.rng.float()) : ctx.rng.float() * o.lockHoldMsMax;
  ctx.sim.after(
    holdMs,
    () => {
      s.setLongHold(false);
      ctx.register.present(h, ctx.sim.nowMs);
      deleteChild(ctx, s, h.path, end);
    },
    'coord-lock-hold',
  );
}

/** Deletes a lock child (release, or a waiter giving up), retried across connection losses. */
function deleteChild(ctx: LockContext, s: LockSession, path: string, end: () => void): void {
  s.client.callWith(zkCalls.delete(path), (e) => {
    if (isZkError(e, ZkErr.connectionLoss) && s.live()) {
      return void ctx.sim.after(50, () => deleteChild(ctx, s, path, end), 'coord-lock-release');
    }
    end();
  });
}
