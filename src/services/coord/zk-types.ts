// The ZooKeeper requests and replies as the session handler (session.ts) sees them: plain values,
// one shape per kind of record, whatever the wire's own record types are called. wire-facade.ts
// maps src/wire/zookeeper's decoder output and encoders onto these, so the handler's logic does
// not change when the codec's names do.

import type { Acl } from '../../coord/acl.ts';
import type { Stat } from '../../coord/tree.ts';

export type ZkIncoming =
  | { readonly kind: 'fourLetter'; readonly word: string }
  | {
      readonly kind: 'connect';
      readonly protocolVersion: number;
      readonly lastZxidSeen: bigint;
      readonly timeOutMs: number;
      readonly sessionId: bigint;
      readonly passwd: Uint8Array;
      /** The trailing readOnly byte; undefined when the client sent none (answer in kind). */
      readonly readOnly: boolean | undefined;
    }
  | { readonly kind: 'request'; readonly xid: number; readonly op: number; readonly body: ZkBody }
  /** An opcode ZooKeeper does not serve: Unimplemented, then the close (as ZooKeeper 3.8). */
  | { readonly kind: 'unknown'; readonly xid: number; readonly op: number }
  /** A known opcode whose body does not decode: MarshallingError, and the connection goes on. */
  | { readonly kind: 'malformed'; readonly xid: number; readonly op: number };

export type ZkBody =
  /** ping, closeSession, whoAmI, reconfig, and ops we do not know */
  | { readonly t: 'none' }
  /** exists, getData, getChildren(2), getACL, sync, getAllChildrenNumber, getEphemerals (prefix) */
  | { readonly t: 'path'; readonly path: string; readonly watch: boolean }
  | {
      readonly t: 'create';
      readonly path: string;
      readonly data: Uint8Array;
      readonly acl: readonly Acl[];
      readonly flags: number;
      /** createTTL's ttl; -1 otherwise. */
      readonly ttl: number;
    }
  | { readonly t: 'delete'; readonly path: string; readonly version: number }
  | { readonly t: 'setData'; readonly path: string; readonly data: Uint8Array; readonly version: number }
  | { readonly t: 'setACL'; readonly path: string; readonly acl: readonly Acl[]; readonly version: number }
  | { readonly t: 'check'; readonly path: string; readonly version: number }
  | { readonly t: 'multi'; readonly ops: readonly { readonly op: number; readonly body: ZkBody }[] }
  | { readonly t: 'multiRead'; readonly ops: readonly { readonly op: number; readonly path: string }[] }
  /** checkWatches, removeWatches */
  | { readonly t: 'watchType'; readonly path: string; readonly type: number }
  | { readonly t: 'addWatch'; readonly path: string; readonly mode: number }
  | {
      readonly t: 'setWatches';
      readonly relativeZxid: bigint;
      readonly dataWatches: readonly string[];
      readonly existWatches: readonly string[];
      readonly childWatches: readonly string[];
      readonly persistentWatches: readonly string[];
      readonly persistentRecursiveWatches: readonly string[];
    }
  | { readonly t: 'auth'; readonly scheme: string; readonly auth: Uint8Array };

/** A multi's per-op result: the op's type (OpCode, or -1 error) and what it carries. */
export interface ZkOpResult {
  readonly op: number;
  readonly err: number;
  readonly path?: string;
  readonly stat?: Stat;
}

/** The body after a ReplyHeader (none for errors and for ops that answer with the header alone). */
export type ZkReplyBody =
  | { readonly t: 'path'; readonly path: string }
  | { readonly t: 'pathStat'; readonly path: string; readonly stat: Stat }
  | { readonly t: 'stat'; readonly stat: Stat }
  | { readonly t: 'data'; readonly data: Uint8Array; readonly stat: Stat }
  | { readonly t: 'children'; readonly children: readonly string[] }
  | { readonly t: 'children2'; readonly children: readonly string[]; readonly stat: Stat }
  | { readonly t: 'acl'; readonly acl: readonly Acl[]; readonly stat: Stat }
  | { readonly t: 'strings'; readonly list: readonly string[] }
  | { readonly t: 'int'; readonly n: number }
  | { readonly t: 'whoAmI'; readonly infos: readonly { readonly authScheme: string; readonly user: string }[] }
  | { readonly t: 'multi'; readonly results: readonly ZkOpResult[] }
  | {
      readonly t: 'multiRead';
      readonly results: readonly {
        readonly op: number;
        readonly err: number;
        readonly data?: Uint8Array;
        readonly stat?: Stat;
        readonly children?: readonly string[];
      }[];
    };
