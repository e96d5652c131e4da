// Feature flags read from znodes (/<root>/<flag>), with a local cache kept fresh by watches and a
// fail-safe default per flag: "use a highly available coordination service to decide which code
// paths to enable; when it is down, fail safe". get() never waits and never throws; it says where
// its value comes from:
//   live      read from the znode, the session connected and the watch armed (a change fires it,
//             and the cache is re-read before the next event can be missed);
//   fallback  the flag's default, with the reason: `unreachable` (no connection now, or the session
//             ended), `missing` (no such znode), `unreadable` (the bytes do not parse), `loading`
//             (not read yet).
// A disconnect turns every flag to its fallback at once (the cache may be stale from then on: a
// change made meanwhile would not be seen); the reconnect re-reads them all.

import { EventType, KeeperState, ZkErr } from '../../coord/codes.ts';
import type { ZkClient, ZkWatchEvent } from '../client.ts';
import { isZkError } from '../errors.ts';
import { join } from './common.ts';

export interface FlagSpec<T> {
  readonly name: string;
  /** The fail-safe value, used whenever the live one is not known. */
  readonly fallback: T;
  /** Reads the znode's bytes; throws on bytes that are not a value of the flag. */
  readonly parse: (bytes: Uint8Array) => T;
  readonly description?: string | undefined;
}

export type FlagFallbackReason = 'unreachable' | 'missing' | 'unreadable' | 'loading';

export type FlagValue<T> =
  | { readonly value: T; readonly source: 'live'; readonly version: number }
  | { readonly value: T; readonly source: 'fallback'; readonly reason: FlagFallbackReason };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An on/off flag: 'true'/'on'/'1' and 'false'/'off'/'0' (any case, spaces trimmed). */
export function booleanFlag(name: string, fallback: boolean, description?: string): FlagSpec<boolean> {
  return {
    name,
    fallback,
    description,
    parse: (bytes) => {
      const text = utf8.decode(bytes).trim().toLowerCase();
      if (text === 'true' || text === 'on' || text === '1') return true;
      if (text === 'false' || text === 'off' || text === '0') return false;
      throw new TypeError(`flag ${name}: "${text}" is not on/off`);
    },
  };
}

/** A JSON flag; `check` refuses values of the wrong shape (by throwing). */
export function jsonFlag<T>(name: string, fallback: T, check: (v: unknown) => T, description?: string): FlagSpec<T> {
  return { name, fallback, description, parse: (bytes) => check(JSON.parse(utf8.decode(bytes))) };
}

interface Entry {
  readonly spec: FlagSpec<unknown>;
  state: { kind: 'live'; value: unknown; version: number } | { kind: FlagFallbackReason };
  readonly watcher: (e: ZkWatchEvent) => void;
}

export class ZkFlags {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(name: string) => void>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(
    private readonly client: ZkClient,
    specs: readonly FlagSpec<unknown>[],
    readonly root = '/baristas/flags',
  ) {
    for (const spec of specs) {
      const entry: Entry = {
        spec,
        state: { kind: 'loading' },
        watcher: (e) => {
          if (e.type !== EventType.none) void this.load(entry);
        },
      };
      this.entries.set(spec.name, entry);
    }
    this.unsubscribe = client.onState((e) => {
      if (e.state === KeeperState.syncConnected) this.refreshAll();
      else this.setAll('unreachable');
    });
    if (client.state === 'connected') this.refreshAll();
  }

  /** The flag's value now and where it comes from (never waits, never throws for a known flag). */
  get<T>(spec: FlagSpec<T>): FlagValue<T> {
    const entry = this.entries.get(spec.name);
    if (entry === undefined) throw new TypeError(`flag ${spec.name} was not declared to this ZkFlags`);
    const s = entry.state;
    if (s.kind === 'live' && this.client.state === 'connected') {
      return { value: s.value as T, source: 'live', version: s.version };
    }
    const reason = s.kind === 'live' || this.client.state !== 'connected' ? 'unreachable' : s.kind;
    return { value: spec.fallback, source: 'fallback', reason };
  }

  /** Every flag's current value, for status pages and `barista` output. */
  snapshot(): Array<{ name: string; fallback: unknown; description?: string | undefined } & FlagValue<unknown>> {
    return [...this.entries.values()].map((e) => ({
      name: e.spec.name,
      fallback: e.spec.fallback,
      description: e.spec.description,
      ...this.get(e.spec),
    }));
  }

  /** Called with a flag's name whenever its value or source may have changed. */
  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every flag has been read once (or failed to be): useful at start-up. */
  async loaded(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.load(e)));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  private refreshAll(): void {
    for (const e of this.entries.values()) void this.load(e);
  }

  private setAll(kind: 'unreachable'): void {
    for (const e of this.entries.values()) this.set(e, { kind });
  }

  private set(entry: Entry, state: Entry['state']): void {
    entry.state = state;
    for (const l of this.listeners) l(entry.spec.name);
  }

  /** Reads the flag with a watch (a data watch, or an exist watch when the znode is missing). */
  private async load(entry: Entry): Promise<void> {
    if (this.stopped) return;
    const path = join(this.root, entry.spec.name);
    try {
      const { data, stat } = await this.client.getData(path, entry.watcher);
      let value: unknown;
      try {
        value = entry.spec.parse(data);
      } catch {
        // Bytes that are no value of the flag: the fail-safe default, until someone fixes the znode.
        this.set(entry, { kind: 'unreadable' });
        return;
      }
      this.set(entry, { kind: 'live', value, version: stat.version });
    } catch (e) {
      if (isZkError(e, ZkErr.noNode)) {
        // Watch for its creation; it may have appeared in between (then the read goes again).
        try {
          if ((await this.client.exists(path, entry.watcher)) === null) this.set(entry, { kind: 'missing' });
          else void this.load(entry);
        } catch {
          this.set(entry, { kind: 'unreachable' }); // the reconnect reads it again
        }
        return;
      }
      this.set(entry, { kind: 'unreachable' });
    }
  }
}
