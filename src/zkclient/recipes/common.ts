// What the recipes share: creating a path's missing ancestors, the 10-digit sequence suffix
// ZooKeeper appends to sequential nodes, and waiting for one watch event.

import { ZkErr } from '../../coord/codes.ts';
import type { ZkClient, ZkWatchEvent } from '../client.ts';
import { isZkError } from '../errors.ts';

/** Creates `path` and its missing ancestors as empty persistent nodes (existing ones are fine). */
export async function ensurePath(client: ZkClient, path: string): Promise<void> {
  if (path === '/' || (await client.exists(path)) !== null) return;
  let prefix = '';
  for (const part of path.split('/').slice(1)) {
    prefix += `/${part}`;
    try {
      await client.create(prefix);
    } catch (e) {
      if (!isZkError(e, ZkErr.nodeExists)) throw e;
    }
  }
}

/** The sequence number of a sequential node's name ('lock-...-0000000042' -> 42), or -1. */
export function sequenceOf(name: string): number {
  const m = /(\d{10})$/.exec(name);
  return m === null ? -1 : Number(m[1]);
}

/** Children that are sequential nodes with `prefix`, in sequence order. */
export function sortedSequential(children: readonly string[], prefix: string): string[] {
  return children
    .filter((c) => c.startsWith(prefix) && sequenceOf(c) >= 0)
    .sort((a, b) => sequenceOf(a) - sequenceOf(b));
}

/** A promise for the next event of a watcher, and the watcher to register. */
export function nextEvent(): { watcher: (e: ZkWatchEvent) => void; event: Promise<ZkWatchEvent> } {
  let resolve!: (e: ZkWatchEvent) => void;
  const event = new Promise<ZkWatchEvent>((r) => {
    resolve = r;
  });
  return { watcher: (e) => resolve(e), event };
}

export function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
