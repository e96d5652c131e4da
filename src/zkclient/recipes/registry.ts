// A service registry on ZooKeeper: each live instance of a service is an ephemeral node
// /<root>/<service>/<instance> holding its address, so it disappears with its session (a crashed
// process leaves no stale entry after its session timeout); watchers of a service get the member
// list again whenever it changes (a child watch, re-armed on every change; watches survive
// reconnects, the client re-registers them).

import { CreateMode, EventType, KeeperState, ZkErr } from '../../coord/codes.ts';
import type { ZkClient, ZkData } from '../client.ts';
import { isZkError } from '../errors.ts';
import { ensurePath, join } from './common.ts';
import { releaseChild } from './lock.ts';

export interface ZkServiceMember {
  readonly instance: string;
  readonly data: Uint8Array;
}

export class ZkServiceRegistry {
  constructor(
    private readonly client: ZkClient,
    readonly root = '/baristas/services',
  ) {}

  /** Registers an instance (an ephemeral node); resolves with the function that unregisters it. */
  async register(service: string, instance: string, data?: ZkData): Promise<() => Promise<void>> {
    const dir = join(this.root, service);
    await ensurePath(this.client, dir);
    const path = join(dir, instance);
    await this.client.create(path, data, { mode: CreateMode.ephemeral });
    return () => releaseChild(this.client, path);
  }

  /** The instances registered now, sorted by name. */
  async members(service: string): Promise<ZkServiceMember[]> {
    return this.read(service);
  }

  /**
   * Calls `onChange` with the members now and after every change, until the returned stop() or the
   * session's end; `onError` hears a read that failed for another reason than a vanished member.
   */
  watch(
    service: string,
    onChange: (members: ZkServiceMember[]) => void,
    onError: (e: unknown) => void = () => undefined,
  ): () => void {
    let stopped = false;
    const dir = join(this.root, service);
    const load = async (): Promise<void> => {
      if (stopped) return;
      try {
        await ensurePath(this.client, dir);
        const members = await this.read(service, watcher);
        if (!stopped) onChange(members);
      } catch (e) {
        if (stopped) return;
        onError(e);
        // Without a successful read no watch is armed: read again once connected.
        if (isZkError(e, ZkErr.connectionLoss)) this.client.ready().then(load, onError);
      }
    };
    const watcher = (e: { type: number; state: number }): void => {
      if (e.type === EventType.none && (e.state === KeeperState.expired || e.state === KeeperState.closed)) return;
      void load();
    };
    void load();
    return () => {
      stopped = true;
    };
  }

  private async read(service: string, watcher?: (e: { type: number; state: number }) => void) {
    const dir = join(this.root, service);
    const { children } = await this.client.getChildren(dir, watcher);
    const out: ZkServiceMember[] = [];
    for (const instance of children.sort()) {
      try {
        out.push({ instance, data: (await this.client.getData(join(dir, instance))).data });
      } catch (e) {
        if (!isZkError(e, ZkErr.noNode)) throw e; // left meanwhile; the child watch brings the next list
      }
    }
    return out;
  }
}
