// The watch manager of one node: who watches which znode path, and which events a committed
// transaction's watch triggers deliver to whom. Watches are local to the node a client is
// connected to and die with the connection (a client re-registers them with setWatches after it
// reconnects), so nothing here is replicated; the tree (the znode namespace) hands over triggers
// on every replica and each node's service runs them through its own manager.
//
// Model, as ZooKeeper 3.8's server keeps it (WatchManager, DataTree; facts, not its code):
//   - two tables, path -> watcher -> modes: the DATA table holds getData and exists watches (the
//     server does not tell them apart; the client does) and the CHILD table getChildren watches.
//   - modes per (table, path, watcher): STANDARD (one-shot, cleared when it fires), PERSISTENT
//     (addWatch mode 0: in both tables, never cleared by an event) and PERSISTENT_RECURSIVE
//     (addWatch mode 1: DATA table only, fires for the path and every descendant, never for
//     NodeChildrenChanged). Modes accumulate: a one-shot getData on a path that also has a
//     persistent watch keeps both (ZooKeeper 3.9's WatchStats; 3.8 let the newest overwrite the
//     other, ZOOKEEPER-4466, a bug we do not reproduce).
//   - a trigger (path, type) is run against the tables ZooKeeper runs it against:
//       NodeCreated, NodeDataChanged  DATA(path)
//       NodeChildrenChanged           CHILD(path)
//       NodeDeleted                   DATA(path), then CHILD(path) skipping the watchers DATA
//                                     already notified (one NodeDeleted per watcher)
//     In a table, the path itself fires STANDARD and PERSISTENT watchers; the path and every
//     ancestor fire PERSISTENT_RECURSIVE watchers unless the event is NodeChildrenChanged.
//     A watcher gets at most one event per table run, however many of its watches match.
//   - checkWatches/removeWatches look at a table by WatcherType (children, data, any); a watcher
//     with no watch there is ZooKeeper's NoWatcher (-121). Removing drops every mode at the path.
//   - setWatches(2) after a reconnect, against the local tree and the client's relativeZxid (its
//     last seen zxid): a data watch on a node now gone fires NodeDeleted, on a node whose mzxid is
//     newer fires NodeDataChanged, else is registered; an exists watch fires NodeCreated if the
//     node exists, else is registered; a child watch fires NodeDeleted if gone, NodeChildrenChanged
//     if the pzxid is newer, else is registered; persistent and recursive ones are registered
//     without an event.
// Events come out in the order the triggers went in, and for one trigger in registration order.
// Bounds: watches per watcher (coordWatchesPerConnectionMax) and per node (coordWatchesTotalMax),
// counted as (table, path, watcher) entries; an add beyond them is refused, never queued.
// A watcher is an opaque number (the service uses its connection's id).

import { EventType, WatcherType } from './codes.ts';
import type { Acl } from './acl.ts';

const STANDARD = 1;
const PERSISTENT = 2;
const RECURSIVE = 4;

/** One event a watcher must be sent (a WatcherEvent with state SyncConnected). */
export interface WatchEvent {
  readonly watcher: number;
  readonly type: EventType;
  readonly path: string;
  /**
   * The ACL of the node the change was judged on (the trigger's): the watcher's connection is sent
   * the event only with READ on it, as ZooKeeper 3.8's ServerCnxn.process(event, acl) checks (the
   * watch is used up either way). Absent: no check (setWatches' events, as ZooKeeper's).
   */
  readonly acl?: readonly Acl[];
}

/** A watch trigger from the tree: this path had this event at some transaction. */
export interface WatchTrigger {
  readonly path: string;
  readonly type: EventType;
  /** See WatchEvent.acl. */
  readonly acl?: readonly Acl[];
}

/** What setWatches needs of the local tree: a node's mzxid and pzxid, undefined when absent. */
export type ZxidLookup = (path: string) => { readonly mzxid: number; readonly pzxid: number } | undefined;

export interface SetWatchesLists {
  readonly dataWatches: readonly string[];
  readonly existWatches: readonly string[];
  readonly childWatches: readonly string[];
  /** setWatches2 only. */
  readonly persistentWatches?: readonly string[];
  readonly persistentRecursiveWatches?: readonly string[];
}

export interface WatchLimits {
  readonly watchesPerWatcherMax: number;
  readonly watchesTotalMax: number;
  /** The paths' UTF-16 code units one watcher's watches hold, and all watches together (undefined: no bound). */
  readonly pathCharsPerWatcherMax?: number;
  readonly pathCharsTotalMax?: number;
}

/** Outcome of adding a watch: added (or already there), or refused at a bound. */
export type AddResult = 'ok' | 'watcher_limit' | 'total_limit';

/** path -> watcher -> mode bits, plus how many recursive watches it holds (to skip the ancestor walk). */
class WatchTable {
  readonly byPath = new Map<string, Map<number, number>>();
  recursiveCount = 0;

  modes(path: string, watcher: number): number {
    return this.byPath.get(path)?.get(watcher) ?? 0;
  }

  /** Sets bits; returns whether a new (path, watcher) entry was created. */
  add(path: string, watcher: number, bits: number): boolean {
    let watchers = this.byPath.get(path);
    if (watchers === undefined) {
      watchers = new Map();
      this.byPath.set(path, watchers);
    }
    const old = watchers.get(watcher) ?? 0;
    watchers.set(watcher, old | bits);
    if ((bits & RECURSIVE) !== 0 && (old & RECURSIVE) === 0) this.recursiveCount++;
    return old === 0;
  }

  /** Clears the entry; returns whether there was one. */
  remove(path: string, watcher: number): boolean {
    const watchers = this.byPath.get(path);
    const old = watchers?.get(watcher);
    if (watchers === undefined || old === undefined) return false;
    if ((old & RECURSIVE) !== 0) this.recursiveCount--;
    watchers.delete(watcher);
    if (watchers.size === 0) this.byPath.delete(path);
    return true;
  }
}

export class WatchManager {
  private readonly data = new WatchTable();
  private readonly child = new WatchTable();
  /** watcher -> its entries, "d" or "c" then the path (to drop a closed connection's watches). */
  private readonly byWatcher = new Map<number, Set<string>>();
  private total = 0;
  /** The paths' code units of each watcher's entries, and of all (WatchLimits' path bounds). */
  private readonly charsByWatcher = new Map<number, number>();
  private totalChars = 0;

  constructor(private readonly limits: WatchLimits) {}

  /** Watch entries held now, over every watcher. */
  get size(): number {
    return this.total;
  }

  /** Watch entries one watcher holds. */
  countOf(watcher: number): number {
    return this.byWatcher.get(watcher)?.size ?? 0;
  }

  /** A getData or exists watch (one-shot). */
  addDataWatch(watcher: number, path: string): AddResult {
    return this.add(this.data, 'd', watcher, path, STANDARD);
  }

  /** A getChildren watch (one-shot). */
  addChildWatch(watcher: number, path: string): AddResult {
    return this.add(this.child, 'c', watcher, path, STANDARD);
  }

  /** addWatch: persistent (both tables) or persistent-recursive (data table). */
  addPersistentWatch(watcher: number, path: string, recursive: boolean): AddResult {
    if (recursive) return this.add(this.data, 'd', watcher, path, RECURSIVE);
    const needed = (this.data.modes(path, watcher) === 0 ? 1 : 0) + (this.child.modes(path, watcher) === 0 ? 1 : 0);
    const refused = this.room(watcher, needed, needed * path.length);
    if (refused !== undefined) return refused;
    this.add(this.data, 'd', watcher, path, PERSISTENT);
    this.add(this.child, 'c', watcher, path, PERSISTENT);
    return 'ok';
  }

  /** checkWatches: does the watcher have a watch of this type at path? */
  contains(watcher: number, path: string, type: number): boolean {
    const inData = this.data.modes(path, watcher) !== 0;
    const inChild = this.child.modes(path, watcher) !== 0;
    if (type === WatcherType.data) return inData;
    if (type === WatcherType.children) return inChild;
    if (type === WatcherType.any) return inData || inChild;
    return false;
  }

  /** removeWatches: drops the watcher's watches of this type at path; false = none (NoWatcher). */
  remove(watcher: number, path: string, type: number): boolean {
    let removed = false;
    if (type === WatcherType.data || type === WatcherType.any)
      removed = this.drop(this.data, 'd', watcher, path) || removed;
    if (type === WatcherType.children || type === WatcherType.any)
      removed = this.drop(this.child, 'c', watcher, path) || removed;
    return removed;
  }

  /** Drops every watch of a watcher (its connection closed). */
  removeWatcher(watcher: number): void {
    const entries = this.byWatcher.get(watcher);
    if (entries === undefined) return;
    for (const entry of entries) {
      const table = entry[0] === 'd' ? this.data : this.child;
      if (table.remove(entry.slice(1), watcher)) {
        this.total--;
        this.totalChars -= entry.length - 1;
      }
    }
    this.byWatcher.delete(watcher);
    this.charsByWatcher.delete(watcher);
  }

  /** Runs the triggers of one transaction (or several, in order) and returns the events to send. */
  trigger(triggers: readonly WatchTrigger[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (const t of triggers) {
      switch (t.type) {
        case EventType.nodeCreated:
        case EventType.nodeDataChanged:
          this.run(this.data, 'd', t, undefined, out);
          break;
        case EventType.nodeChildrenChanged:
          this.run(this.child, 'c', t, undefined, out);
          break;
        case EventType.nodeDeleted: {
          const notified = new Set<number>();
          this.run(this.data, 'd', t, notified, out);
          this.run(this.child, 'c', t, notified, out);
          break;
        }
        default:
          // Other event types are not produced by transactions (the removal events are the client's).
          break;
      }
    }
    return out;
  }

  /**
   * setWatches / setWatches2 after a reconnect: the events due at once (in list order: data,
   * exist, child), registering the rest. Watches beyond the bounds are skipped and counted in
   * the result's `refused`.
   */
  setWatches(
    watcher: number,
    relativeZxid: number,
    lists: SetWatchesLists,
    lookup: ZxidLookup,
  ): { events: WatchEvent[]; refused: number } {
    const events: WatchEvent[] = [];
    let refused = 0;
    const fire = (type: EventType, path: string): void => {
      events.push({ watcher, type, path });
    };
    const count = (r: AddResult): void => {
      if (r !== 'ok') refused++;
    };
    for (const path of lists.dataWatches) {
      const node = lookup(path);
      if (node === undefined) fire(EventType.nodeDeleted, path);
      else if (node.mzxid > relativeZxid) fire(EventType.nodeDataChanged, path);
      else count(this.addDataWatch(watcher, path));
    }
    for (const path of lists.existWatches) {
      if (lookup(path) !== undefined) fire(EventType.nodeCreated, path);
      else count(this.addDataWatch(watcher, path));
    }
    for (const path of lists.childWatches) {
      const node = lookup(path);
      if (node === undefined) fire(EventType.nodeDeleted, path);
      else if (node.pzxid > relativeZxid) fire(EventType.nodeChildrenChanged, path);
      else count(this.addChildWatch(watcher, path));
    }
    for (const path of lists.persistentWatches ?? []) count(this.addPersistentWatch(watcher, path, false));
    for (const path of lists.persistentRecursiveWatches ?? []) count(this.addPersistentWatch(watcher, path, true));
    return { events, refused };
  }

  private room(watcher: number, needed: number, chars: number): AddResult | undefined {
    if (needed === 0) return undefined;
    if (this.countOf(watcher) + needed > this.limits.watchesPerWatcherMax) return 'watcher_limit';
    const { pathCharsPerWatcherMax = Infinity, pathCharsTotalMax = Infinity } = this.limits;
    if ((this.charsByWatcher.get(watcher) ?? 0) + chars > pathCharsPerWatcherMax) return 'watcher_limit';
    if (this.total + needed > this.limits.watchesTotalMax) return 'total_limit';
    if (this.totalChars + chars > pathCharsTotalMax) return 'total_limit';
    return undefined;
  }

  private add(table: WatchTable, tag: 'd' | 'c', watcher: number, path: string, bits: number): AddResult {
    if (table.modes(path, watcher) === 0) {
      const refused = this.room(watcher, 1, path.length);
      if (refused !== undefined) return refused;
    }
    if (table.add(path, watcher, bits)) {
      this.total++;
      this.totalChars += path.length;
      this.charsByWatcher.set(watcher, (this.charsByWatcher.get(watcher) ?? 0) + path.length);
      let entries = this.byWatcher.get(watcher);
      if (entries === undefined) {
        entries = new Set();
        this.byWatcher.set(watcher, entries);
      }
      entries.add(tag + path);
    }
    return 'ok';
  }

  private drop(table: WatchTable, tag: 'd' | 'c', watcher: number, path: string): boolean {
    if (!table.remove(path, watcher)) return false;
    this.total--;
    this.totalChars -= path.length;
    const chars = (this.charsByWatcher.get(watcher) ?? 0) - path.length;
    if (chars > 0) this.charsByWatcher.set(watcher, chars);
    else this.charsByWatcher.delete(watcher);
    const entries = this.byWatcher.get(watcher);
    entries?.delete(tag + path);
    if (entries !== undefined && entries.size === 0) this.byWatcher.delete(watcher);
    return true;
  }

  /** One table run of one trigger; `notified` collects (and skips) watchers already sent this event. */
  private run(
    table: WatchTable,
    tag: 'd' | 'c',
    { path, type, acl }: WatchTrigger,
    notified: Set<number> | undefined,
    out: WatchEvent[],
  ): void {
    const event = (watcher: number): WatchEvent =>
      acl === undefined ? { watcher, type, path } : { watcher, type, path, acl };
    const sent = notified ?? new Set<number>();
    const exact = table.byPath.get(path);
    if (exact !== undefined) {
      for (const [watcher, modes] of [...exact]) {
        const recursiveFires = (modes & RECURSIVE) !== 0 && type !== EventType.nodeChildrenChanged;
        const fires = (modes & (STANDARD | PERSISTENT)) !== 0 || recursiveFires;
        if ((modes & STANDARD) !== 0) this.clearStandard(table, tag, watcher, path, modes);
        if (!fires || sent.has(watcher)) continue;
        sent.add(watcher);
        out.push(event(watcher));
      }
    }
    if (table.recursiveCount === 0 || type === EventType.nodeChildrenChanged) return;
    for (let p = parentOf(path); p !== undefined; p = parentOf(p)) {
      const watchers = table.byPath.get(p);
      if (watchers === undefined) continue;
      for (const [watcher, modes] of watchers) {
        if ((modes & RECURSIVE) === 0 || sent.has(watcher)) continue;
        sent.add(watcher);
        out.push(event(watcher));
      }
    }
  }

  private clearStandard(table: WatchTable, tag: 'd' | 'c', watcher: number, path: string, modes: number): void {
    const rest = modes & ~STANDARD;
    if (rest !== 0) {
      table.byPath.get(path)?.set(watcher, rest);
      return;
    }
    this.drop(table, tag, watcher, path);
  }
}

/** The parent of an absolute znode path; undefined for the root. */
function parentOf(path: string): string | undefined {
  if (path === '/' || path.length === 0) return undefined;
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
