// The coord simulator workload's checkers (sim-workload.ts drives the clients and feeds them).
// Each keeps only what the workload's clients observed, plus two facts the simulator knows
// exactly and the clients cannot: the log index at which a session was closed and at which a
// znode was deleted (AppliedFacts, read off every replica's apply hook; used only to judge the
// clients' observations, never in their place).
//
//   LockRegister      the guarded register the lock holders present their fencing tokens to. It
//                     refuses a token lower than the highest it has accepted. A refusal means two
//                     holders overlapped as the register sees it; that is allowed only for a zombie:
//                     the refused holder's lock node was already deleted (its session expired) at
//                     or before the zxid on which the higher holder was granted. Anything else is a
//                     violation (two live holders).
//   SessionOrder      per session: a key's version never goes backwards (reads and own writes, across
//                     reconnects), and a read invoked after the session had seen zxid F reflects
//                     every write to that key with zxid <= F (post-run, with every write's zxid known).
//   WatchOrder        per session: a one-shot data watch registered at version v fires before any
//                     reply of that session reflects a version > v (never lost, never late), and the
//                     events a session saw are in the order of their changes' zxids (never reordered).
//   Ephemerals        a read invoked after the session had seen zxid F never lists the ephemeral of a
//                     session closed at an index <= F.

import type { ZnodeTree } from '../../coord/tree.ts';

/** Facts from every replica's apply hook: first index at which a session/path was seen gone. */
export class AppliedFacts {
  /** Session id -> index of the entry that closed it (the smallest any replica reported). */
  readonly closedAt = new Map<number, { index: number; atMs: number }>();
  /** Path -> index of the entry that deleted it. */
  readonly deletedAt = new Map<string, number>();
  private readonly sessions = new Set<number>();
  /** Path -> its czxid. */
  private readonly paths = new Map<string, number>();

  trackSession(id: number): void {
    if (!this.closedAt.has(id)) this.sessions.add(id);
  }

  trackPath(path: string, czxid: number): void {
    if (!this.deletedAt.has(path)) this.paths.set(path, czxid);
  }

  /** A replica applied `index`; `tree` is its tree right after. */
  applied(tree: ZnodeTree, index: number, nowMs: number): void {
    for (const id of this.sessions) {
      if (index < id || tree.sessions.has(id)) continue;
      this.sessions.delete(id);
      this.closedAt.set(id, { index, atMs: nowMs });
    }
    for (const [path, czxid] of this.paths) {
      if (index < czxid || tree.record(path) !== undefined) continue;
      this.paths.delete(path);
      this.deletedAt.set(path, index);
    }
  }
}

export interface LockHolder {
  readonly token: number;
  readonly path: string;
  readonly sessionId: number;
  /** The holder's lastZxidSeen when it decided it held the lock (its view is no newer). */
  readonly grantedAtZxid: number;
}

export class LockRegister {
  private highest: LockHolder | undefined;
  accepted = 0;
  refused = 0;
  /** Refusals of zombies (their node was gone when the higher holder was granted). */
  fenced = 0;
  readonly violations: string[] = [];

  constructor(private readonly facts: AppliedFacts) {}

  /** A holder presents its token; returns whether the register accepted it. */
  present(h: LockHolder, nowMs: number): boolean {
    const top = this.highest;
    if (top === undefined || h.token >= top.token) {
      this.highest = h;
      this.accepted++;
      return true;
    }
    this.refused++;
    const deleted = this.facts.deletedAt.get(h.path);
    if (deleted !== undefined && deleted <= top.grantedAtZxid) {
      this.fenced++;
      return false;
    }
    this.violations.push(
      `at ${nowMs.toFixed(1)} ms two lock holders: token ${h.token} (${h.path}, session ${h.sessionId}) presented ` +
        `after token ${top.token} (${top.path}, granted at zxid ${top.grantedAtZxid}), while its lock node ` +
        (deleted === undefined ? 'still exists' : `was deleted only at zxid ${deleted}`),
    );
    return false;
  }
}

/** One read of a key: what a session saw, and what it had seen before it asked. */
interface KeyRead {
  readonly session: number;
  readonly key: string;
  readonly version: number;
  /** The session's lastZxidSeen when it sent the read. */
  readonly floorZxid: number;
}

export class SessionOrder {
  /** key -> version -> mzxid (learnt from any ok read or write). */
  private readonly zxidOf = new Map<string, Map<number, number>>();
  private readonly lastVersion = new Map<string, number>();
  private readonly reads: KeyRead[] = [];
  readonly violations: string[] = [];

  /** A version of `key` was observed with its mzxid (any session). */
  learn(key: string, version: number, mzxid: number): void {
    let m = this.zxidOf.get(key);
    if (m === undefined) {
      m = new Map();
      this.zxidOf.set(key, m);
    }
    m.set(version, mzxid);
  }

  mzxidOf(key: string, version: number): number | undefined {
    return this.zxidOf.get(key)?.get(version);
  }

  /** Session `session` saw `key` at `version` (a read's or its own write's reply). */
  saw(session: number, key: string, version: number, floorZxid: number | undefined): void {
    const k = `${session}/${key}`;
    const last = this.lastVersion.get(k);
    if (last !== undefined && version < last) {
      this.violations.push(`session ${session} saw ${key} at version ${version} after version ${last}`);
    }
    if (last === undefined || version > last) this.lastVersion.set(k, version);
    if (floorZxid !== undefined) this.reads.push({ session, key, version, floorZxid });
  }

  /** Post-run: every read reflects the writes the session had already seen past. */
  checkFloors(): void {
    for (const r of this.reads) {
      const versions = this.zxidOf.get(r.key);
      if (versions === undefined) continue;
      for (const [v, mzxid] of versions) {
        if (v > r.version && mzxid <= r.floorZxid) {
          this.violations.push(
            `session ${r.session} read ${r.key} at version ${r.version} after it had seen zxid ${r.floorZxid}, ` +
              `but version ${v} was written at zxid ${mzxid}`,
          );
          break;
        }
      }
    }
  }
}

interface PendingWatch {
  readonly version: number;
  /** The session's connection count when registered (setWatches re-registers on a later one). */
  readonly epoch: number;
}

export class WatchOrder {
  /** `${session}/${key}` -> the watch registered and not yet fired. */
  private readonly pending = new Map<string, PendingWatch>();
  /** Per session, the events in arrival order: key and the version that fired it. */
  private readonly events = new Map<
    number,
    { key: string; version: number; sameConnection: boolean; floorZxid: number }[]
  >();
  delivered = 0;
  readonly violations: string[] = [];

  hasPending(session: number, key: string): boolean {
    return this.pending.has(`${session}/${key}`);
  }

  registered(session: number, key: string, version: number, epoch: number): void {
    this.pending.set(`${session}/${key}`, { version, epoch });
  }

  /**
   * A NodeDataChanged for `key` reached the session (on its connection number `epoch`), whose
   * lastZxidSeen was then `floorZxid`.
   */
  fired(session: number, key: string, epoch: number, floorZxid: number): void {
    const k = `${session}/${key}`;
    const w = this.pending.get(k);
    if (w === undefined) return;
    this.pending.delete(k);
    this.delivered++;
    let list = this.events.get(session);
    if (list === undefined) {
      list = [];
      this.events.set(session, list);
    }
    list.push({ key, version: w.version + 1, sameConnection: w.epoch === epoch, floorZxid });
  }

  /** A reply of the session reflects `version` of `key`: a watch below it must have fired already. */
  reflected(session: number, key: string, version: number, nowMs: number): void {
    const w = this.pending.get(`${session}/${key}`);
    if (w !== undefined && version > w.version) {
      this.violations.push(
        `at ${nowMs.toFixed(1)} ms session ${session} got ${key} at version ${version} before the event of ` +
          `its watch registered at version ${w.version} (lost or late)`,
      );
      this.pending.delete(`${session}/${key}`);
    }
  }

  /** The session ended: its watches end with it (its client tells them so). */
  ended(session: number): void {
    for (const k of [...this.pending.keys()]) if (k.startsWith(`${session}/`)) this.pending.delete(k);
  }

  /**
   * Post-run: each session's events follow the zxids of the changes that fired them. Only events
   * of watches registered on the connection that delivered them: setWatches after a reconnect
   * fires what changed meanwhile in its list's order (ZooKeeper's too), and the change that fired
   * such a watch may be later than the first after its registration.
   */
  checkOrder(mzxidOf: (key: string, version: number) => number | undefined): void {
    for (const [session, list] of this.events) {
      // An event is sent before any reply computed after its change (on the old connection, or
      // by setWatches on the new one), so the session cannot have seen the change's zxid yet: if
      // it had, the event came from a later change and the first one's was lost.
      for (const e of list) {
        const z = mzxidOf(e.key, e.version);
        if (z !== undefined && z <= e.floorZxid) {
          this.violations.push(
            `session ${session} got the event of ${e.key} v${e.version} (zxid ${z}) only after it had seen zxid ${e.floorZxid} (lost or late)`,
          );
        }
      }
      let last = -1;
      let lastWhat = '';
      for (const e of list) {
        if (!e.sameConnection) continue;
        const z = mzxidOf(e.key, e.version);
        if (z === undefined) continue;
        if (z < last) {
          this.violations.push(
            `session ${session} got the event of ${e.key} v${e.version} (zxid ${z}) after that of ${lastWhat} (zxid ${last})`,
          );
        }
        last = Math.max(last, z);
        lastWhat = `${e.key} v${e.version}`;
      }
    }
  }
}

/** The ephemeral a session creates (its id in the name, so any reader knows whose it is). */
export function ephemeralName(sessionId: number): string {
  return `s-${sessionId}`;
}

export function sessionOfEphemeral(name: string): number | undefined {
  const m = /^s-(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Reads of the ephemerals' directory that listed a closed session's node. */
export function staleEphemerals(
  children: readonly string[],
  floorZxid: number,
  facts: AppliedFacts,
): { name: string; closedAt: number }[] {
  const out: { name: string; closedAt: number }[] = [];
  for (const name of children) {
    const id = sessionOfEphemeral(name);
    const closed = id === undefined ? undefined : facts.closedAt.get(id);
    if (closed !== undefined && closed.index <= floorZxid) out.push({ name, closedAt: closed.index });
  }
  return out;
}
