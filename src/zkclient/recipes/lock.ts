// A lock the ZooKeeper way (ZooKeeper's recipes page, "Locks"): each contender creates an
// ephemeral sequential child of the lock node; the lowest sequence holds the lock; every other
// contender watches only the child just before its own (exists + watch), so a release wakes one
// waiter, not all of them (no herd effect). The holder gets a fencing token, its child's czxid: a
// zxid, so tokens of later holders are larger, and a guarded resource can refuse a request
// carrying a token lower than one it has seen (a holder whose session expired without it knowing).
//
// The child's name holds the session id ('lock-<session hex>-0000000007'): after a connection loss
// during the create, the contender finds its child by that prefix instead of creating a second one.
// Leader election (election.ts) is the same queue with data in the child.

import { CreateMode, KeeperState, ZkErr } from '../../coord/codes.ts';
import type { ZkClient, ZkData, ZkStat } from '../client.ts';
import { isZkError, ZkError } from '../errors.ts';
import { ensurePath, join, nextEvent, sortedSequential } from './common.ts';

export interface QueueEntry {
  readonly path: string;
  /** The child's czxid. */
  readonly fencingToken: bigint;
}

/** Ephemeral sequential children of `dir` served in sequence order (the lock's and election's core). */
export class SequentialQueue {
  /** The predecessor this contender is waiting on now (null when not waiting): one path, never more. */
  watching: string | null = null;

  constructor(
    private readonly client: ZkClient,
    readonly dir: string,
    private readonly prefix: string,
  ) {}

  /** Joins the queue and resolves when first in it. */
  async enter(data?: ZkData): Promise<QueueEntry> {
    await ensurePath(this.client, this.dir);
    const { path, stat } = await this.createChild(data);
    try {
      await this.waitTurn(path);
    } catch (e) {
      await this.client.delete(path).catch(() => undefined);
      throw e;
    }
    return { path, fencingToken: stat.czxid };
  }

  private ownPrefix(): string {
    return `${this.prefix}${this.client.sessionId.toString(16)}-`;
  }

  private async createChild(data?: ZkData): Promise<{ path: string; stat: ZkStat }> {
    for (;;) {
      const prefix = this.ownPrefix();
      try {
        return await this.client.create2(join(this.dir, prefix), data, { mode: CreateMode.ephemeralSequential });
      } catch (e) {
        if (!isZkError(e, ZkErr.connectionLoss)) throw e;
        // The create may have applied: look for our child before trying again.
        await this.client.ready();
        const { children } = await this.client.getChildren(this.dir);
        const mine = children.find((c) => c.startsWith(prefix));
        if (mine !== undefined) {
          const path = join(this.dir, mine);
          const stat = await this.client.exists(path);
          if (stat !== null) return { path, stat };
        }
      }
    }
  }

  private async waitTurn(path: string): Promise<void> {
    const name = path.slice(path.lastIndexOf('/') + 1);
    for (;;) {
      try {
        if (await this.isFirst(path, name)) return;
      } catch (e) {
        // A lost connection is not a lost session: our child stays while the session lives (a
        // watch set before the loss is re-registered by the client; looking again is enough).
        if (!isZkError(e, ZkErr.connectionLoss)) throw e;
        this.watching = null;
        await this.client.ready();
      }
    }
  }

  /** True when first; otherwise waits for the predecessor's next event and answers false. */
  private async isFirst(path: string, name: string): Promise<boolean> {
    const { children } = await this.client.getChildren(this.dir);
    const queue = sortedSequential(children, this.prefix);
    const i = queue.indexOf(name);
    if (i < 0) throw new ZkError(ZkErr.noNode, { op: 'lock', path }); // our child is gone (session ended)
    if (i === 0) return true;
    const predecessor = join(this.dir, queue[i - 1]!);
    const { watcher, event } = nextEvent();
    // getData, not exists: on NoNode it leaves no watch behind (an exists watch on a sequential
    // name, never created again, would stay registered and be re-sent on every reconnect).
    try {
      await this.client.getData(predecessor, watcher);
    } catch (e) {
      if (isZkError(e, ZkErr.noNode)) return false;
      throw e;
    }
    this.watching = predecessor;
    const e = await event;
    this.watching = null;
    if (e.state === KeeperState.expired) throw new ZkError(ZkErr.sessionExpired, { op: 'lock', path });
    if (e.state === KeeperState.closed) throw new ZkError(ZkErr.closing, { op: 'lock', path });
    return false;
  }
}

export interface ZkLockHandle extends QueueEntry {
  /** Deletes the child (NoNode, as after an expiry, counts as released). */
  release(): Promise<void>;
}

export class ZkLock {
  private readonly queue: SequentialQueue;

  constructor(client: ZkClient, dir: string, options: { readonly prefix?: string } = {}) {
    this.queue = new SequentialQueue(client, dir, options.prefix ?? 'lock-');
    this.client = client;
  }
  private readonly client: ZkClient;

  /** What this contender waits on now (one predecessor), or null. */
  get watching(): string | null {
    return this.queue.watching;
  }

  async acquire(): Promise<ZkLockHandle> {
    const entry = await this.queue.enter();
    return { ...entry, release: () => releaseChild(this.client, entry.path) };
  }
}

export async function releaseChild(client: ZkClient, path: string): Promise<void> {
  try {
    await client.delete(path);
  } catch (e) {
    if (!isZkError(e, ZkErr.noNode)) throw e;
  }
}
