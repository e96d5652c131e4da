// Barriers the ZooKeeper way (ZooKeeper's recipes page, "Barriers" and "Double Barriers").
//   ZkBarrier: a node that holds clients back while it exists: raise() creates it, lower() deletes
//     it, pass() waits (exists + watch) until it is gone.
//   ZkDoubleBarrier: `count` participants enter (each an ephemeral child of the barrier node, named
//     by the participant); the one whose entry makes the count creates `ready`, which every waiter
//     watches, so all start together; leave() deletes the entry and waits until no entry is left.

import { CreateMode, KeeperState, ZkErr } from '../../coord/codes.ts';
import type { ZkClient } from '../client.ts';
import { isZkError, ZkError } from '../errors.ts';
import { ensurePath, join, nextEvent } from './common.ts';

function checkSessionEvent(state: number, op: string, path: string): void {
  if (state === KeeperState.expired) throw new ZkError(ZkErr.sessionExpired, { op, path });
  if (state === KeeperState.closed) throw new ZkError(ZkErr.closing, { op, path });
}

export class ZkBarrier {
  constructor(
    private readonly client: ZkClient,
    readonly path: string,
  ) {}

  async raise(): Promise<void> {
    const parent = this.path.slice(0, this.path.lastIndexOf('/')) || '/';
    await ensurePath(this.client, parent);
    try {
      await this.client.create(this.path);
    } catch (e) {
      if (!isZkError(e, ZkErr.nodeExists)) throw e;
    }
  }

  async lower(): Promise<void> {
    try {
      await this.client.delete(this.path);
    } catch (e) {
      if (!isZkError(e, ZkErr.noNode)) throw e;
    }
  }

  /** Resolves once the barrier node does not exist. */
  async pass(): Promise<void> {
    for (;;) {
      const { watcher, event } = nextEvent();
      if ((await this.client.exists(this.path, watcher)) === null) return;
      checkSessionEvent((await event).state, 'barrier', this.path);
    }
  }
}

export class ZkDoubleBarrier {
  constructor(
    private readonly client: ZkClient,
    readonly path: string,
    readonly count: number,
    readonly name: string,
  ) {}

  private get readyPath(): string {
    return join(this.path, 'ready');
  }

  /** Resolves when `count` participants have entered. */
  async enter(): Promise<void> {
    await ensurePath(this.client, this.path);
    const { watcher, event } = nextEvent();
    const ready = await this.client.exists(this.readyPath, watcher);
    try {
      await this.client.create(join(this.path, this.name), undefined, { mode: CreateMode.ephemeral });
    } catch (e) {
      if (!isZkError(e, ZkErr.nodeExists)) throw e;
    }
    if (ready !== null) return;
    const { children } = await this.client.getChildren(this.path);
    if (children.filter((c) => c !== 'ready').length >= this.count) {
      try {
        await this.client.create(this.readyPath);
      } catch (e) {
        if (!isZkError(e, ZkErr.nodeExists)) throw e;
      }
      return;
    }
    checkSessionEvent((await event).state, 'barrier', this.path);
  }

  /** Removes this participant and resolves when every participant has left. */
  async leave(): Promise<void> {
    try {
      await this.client.delete(join(this.path, this.name));
    } catch (e) {
      if (!isZkError(e, ZkErr.noNode)) throw e;
    }
    for (;;) {
      const { watcher, event } = nextEvent();
      const { children } = await this.client.getChildren(this.path, watcher);
      if (children.every((c) => c === 'ready')) return;
      checkSessionEvent((await event).state, 'barrier', this.path);
    }
  }
}
