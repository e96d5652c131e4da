// Leader election the ZooKeeper way: the lock's queue (lock.ts) with each candidate's data in its
// ephemeral sequential child. The lowest child leads; each other candidate watches only its
// predecessor, so when the leader goes, exactly one candidate wakes and, finding itself first,
// leads. The leader's term token is its child's czxid (larger for every later leader).

import { ZkErr } from '../../coord/codes.ts';
import type { ZkClient, ZkData } from '../client.ts';
import { isZkError } from '../errors.ts';
import { join, sortedSequential } from './common.ts';
import { type QueueEntry, releaseChild, SequentialQueue } from './lock.ts';

export interface ZkLeadership extends QueueEntry {
  /** Steps down (deletes the child); the next candidate takes over. */
  resign(): Promise<void>;
}

export class ZkElection {
  private readonly queue: SequentialQueue;

  constructor(
    private readonly client: ZkClient,
    readonly dir: string,
    private readonly options: { readonly prefix?: string } = {},
  ) {
    this.queue = new SequentialQueue(client, dir, options.prefix ?? 'n_');
  }

  get watching(): string | null {
    return this.queue.watching;
  }

  /** Resolves when this candidate leads. */
  async campaign(data?: ZkData): Promise<ZkLeadership> {
    const entry = await this.queue.enter(data);
    return { ...entry, resign: () => releaseChild(this.client, entry.path) };
  }

  /** The current leader's child and data, or null when there is no candidate. */
  async leader(): Promise<{ path: string; data: Uint8Array } | null> {
    for (;;) {
      const { children } = await this.client.getChildren(this.dir);
      const first = sortedSequential(children, this.options.prefix ?? 'n_')[0];
      if (first === undefined) return null;
      const path = join(this.dir, first);
      try {
        return { path, data: (await this.client.getData(path)).data };
      } catch (e) {
        if (!isZkError(e, ZkErr.noNode)) throw e; // it went between the two reads: look again
      }
    }
  }
}
