// The client's side of ZooKeeper watches: who asked to hear about which path (ZooKeeper's
// ZKWatchManager). The server keeps one flag per (connection, path, kind); the client keeps the
// watcher functions and decides, per event, which of them fire:
//   NodeCreated, NodeDataChanged  -> data and exist watchers of the path        (one-shot)
//   NodeChildrenChanged           -> child watchers of the path                   (one-shot)
//   NodeDeleted                   -> data, exist and child watchers of the path   (one-shot)
//   any type                      -> persistent watchers of the path              (stay)
//   any type but NodeChildrenChanged -> persistent-recursive watchers of the path and of each
//                                    ancestor                                     (stay)
// A watcher registered twice for the same path and kind fires once (a Set per path), as in
// ZooKeeper. After a reconnect every path is re-registered (setWatches2) from here.

import { EventType, type KeeperState } from '../coord/codes.ts';

export interface ZkWatchEvent {
  /** EventType (none = a session state change, with `state`). */
  readonly type: number;
  /** KeeperState. */
  readonly state: number;
  readonly path: string | null;
}

export type ZkWatcher = (event: ZkWatchEvent) => void;

export type WatchKind = 'data' | 'exist' | 'child' | 'persistent' | 'persistentRecursive';
export const watchKinds: readonly WatchKind[] = ['data', 'exist', 'child', 'persistent', 'persistentRecursive'];

export class WatchManager {
  private readonly byKind = new Map<WatchKind, Map<string, Set<ZkWatcher>>>(
    watchKinds.map((k) => [k, new Map<string, Set<ZkWatcher>>()]),
  );
  private registrations = 0;

  /** Watcher registrations held (path x kind x watcher). */
  get count(): number {
    return this.registrations;
  }

  add(kind: WatchKind, path: string, watcher: ZkWatcher): void {
    const paths = this.byKind.get(kind)!;
    let set = paths.get(path);
    if (set === undefined) {
      set = new Set();
      paths.set(path, set);
    }
    if (!set.has(watcher)) {
      set.add(watcher);
      this.registrations++;
    }
  }

  has(kind: WatchKind, path: string, watcher?: ZkWatcher): boolean {
    const set = this.byKind.get(kind)!.get(path);
    return set !== undefined && (watcher === undefined || set.has(watcher));
  }

  /** Removes `watcher` (or every watcher) of `kind` at `path`; returns those removed. */
  remove(kind: WatchKind, path: string, watcher?: ZkWatcher): ZkWatcher[] {
    const paths = this.byKind.get(kind)!;
    const set = paths.get(path);
    if (set === undefined) return [];
    if (watcher === undefined) {
      paths.delete(path);
      this.registrations -= set.size;
      return [...set];
    }
    if (!set.delete(watcher)) return [];
    this.registrations--;
    if (set.size === 0) paths.delete(path);
    return [watcher];
  }

  /** Paths with at least one watcher of `kind` (for setWatches2 after a reconnect). */
  paths(kind: WatchKind): string[] {
    return [...this.byKind.get(kind)!.keys()];
  }

  /** The watchers `event` fires, in registration order, each once; one-shot ones are removed. */
  materialize(event: ZkWatchEvent): ZkWatcher[] {
    const out = new Set<ZkWatcher>();
    const path = event.path;
    if (path === null) return [];
    const take = (kind: WatchKind): void => {
      for (const w of this.remove(kind, path)) out.add(w);
    };
    switch (event.type) {
      case EventType.nodeCreated:
      case EventType.nodeDataChanged:
        take('data');
        take('exist');
        break;
      case EventType.nodeChildrenChanged:
        take('child');
        break;
      case EventType.nodeDeleted:
        take('data');
        take('exist');
        take('child');
        break;
      default:
        break;
    }
    for (const w of this.byKind.get('persistent')!.get(path) ?? []) out.add(w);
    if (event.type !== EventType.nodeChildrenChanged) {
      const recursive = this.byKind.get('persistentRecursive')!;
      for (let p: string | null = path; p !== null; p = parentOf(p)) {
        for (const w of recursive.get(p) ?? []) out.add(w);
      }
    }
    return [...out];
  }

  /** Every watcher, each once, and forgets them all (the session ended: expired or closed). */
  drain(): ZkWatcher[] {
    const out = new Set<ZkWatcher>();
    for (const paths of this.byKind.values()) {
      for (const set of paths.values()) for (const w of set) out.add(w);
      paths.clear();
    }
    this.registrations = 0;
    return [...out];
  }
}

/** '/a/b' -> '/a', '/a' -> '/', '/' -> null. */
export function parentOf(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The event every remaining watcher gets when the session ends. */
export function sessionEndEvent(state: typeof KeeperState.expired | typeof KeeperState.closed): ZkWatchEvent {
  return { type: EventType.none, state, path: null };
}
