// The ZooKeeper wire (src/wire/zookeeper) as the session handler uses it: its decoder's requests
// mapped to the handler's plain values (zk-types.ts: nulls become empty values, i64 fields stay
// bigint where the handler converts them itself), and the handler's replies to the wire's records.
// The only module of the service that knows the codec's record names.

import type { Acl } from '../../coord/acl.ts';
import { OpCode } from '../../coord/codes.ts';
import type { Stat } from '../../coord/tree.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import type { RequestDecoder } from '../../wire/pipeline.ts';
import {
  encodeConnectResponse,
  encodeNotification,
  encodeReply,
  type ZkServerRequest,
  ZkRequestDecoder,
} from '../../wire/zookeeper/index.ts';
import type * as W from '../../wire/zookeeper/index.ts';
import type { CoordConfig } from './config.ts';
import type { ZkEncoder } from './session.ts';
import type { ZkBody, ZkIncoming, ZkReplyBody } from './zk-types.ts';

const empty = new Uint8Array(0);

function acls(list: readonly W.Acl[] | null): Acl[] {
  return (list ?? []).map((a) => ({ perms: a.perms, scheme: a.id.scheme ?? '', id: a.id.id ?? '' }));
}

function wireAcls(list: readonly Acl[]): W.Acl[] {
  return list.map((a) => ({ perms: a.perms, id: { scheme: a.scheme, id: a.id } }));
}

function wireStat(s: Stat): W.Stat<W.Long> {
  return {
    czxid: s.czxid,
    mzxid: s.mzxid,
    ctime: s.ctime,
    mtime: s.mtime,
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: s.ephemeralOwner,
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    pzxid: s.pzxid,
  };
}

/** A request body as the handler takes it. */
function body(b: W.RequestBody | W.MultiOp): ZkBody {
  switch (b.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return { t: 'create', path: b.path ?? '', data: b.data ?? empty, acl: acls(b.acl), flags: b.flags, ttl: -1 };
    case OpCode.createTTL: {
      const ttl = b.ttl > BigInt(Number.MAX_SAFE_INTEGER) || b.ttl < -1n ? -2 : Number(b.ttl);
      return { t: 'create', path: b.path ?? '', data: b.data ?? empty, acl: acls(b.acl), flags: b.flags, ttl };
    }
    case OpCode.delete:
      return { t: 'delete', path: b.path ?? '', version: b.version };
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      return { t: 'path', path: b.path ?? '', watch: b.watch };
    case OpCode.setData:
      return { t: 'setData', path: b.path ?? '', data: b.data ?? empty, version: b.version };
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
      return { t: 'path', path: b.path ?? '', watch: false };
    case OpCode.getEphemerals:
      return { t: 'path', path: b.prefixPath ?? '', watch: false };
    case OpCode.setACL:
      return { t: 'setACL', path: b.path ?? '', acl: acls(b.acl), version: b.version };
    case OpCode.check:
      return { t: 'check', path: b.path ?? '', version: b.version };
    case OpCode.checkWatches:
    case OpCode.removeWatches:
      return { t: 'watchType', path: b.path ?? '', type: b.watcherType };
    case OpCode.addWatch:
      return { t: 'addWatch', path: b.path ?? '', mode: b.mode };
    case OpCode.auth:
      return { t: 'auth', scheme: b.scheme ?? '', auth: b.auth ?? empty };
    case OpCode.setWatches:
    case OpCode.setWatches2:
      return {
        t: 'setWatches',
        relativeZxid: BigInt(b.relativeZxid),
        dataWatches: b.dataWatches ?? [],
        existWatches: b.existWatches ?? [],
        childWatches: b.childWatches ?? [],
        persistentWatches: b.type === OpCode.setWatches2 ? (b.persistentWatches ?? []) : [],
        persistentRecursiveWatches: b.type === OpCode.setWatches2 ? (b.persistentRecursiveWatches ?? []) : [],
      };
    case OpCode.multi:
      return { t: 'multi', ops: b.ops.map((o) => ({ op: o.type, body: body(o) })) };
    case OpCode.multiRead:
      return { t: 'multiRead', ops: b.ops.map((o) => ({ op: o.type, path: 'path' in o ? (o.path ?? '') : '' })) };
    default:
      return { t: 'none' };
  }
}

function incoming(r: ZkServerRequest): ZkIncoming {
  switch (r.kind) {
    case 'fourLetter':
      return { kind: 'fourLetter', word: r.word };
    case 'connect': {
      const c = r.request;
      return {
        kind: 'connect',
        protocolVersion: c.protocolVersion,
        lastZxidSeen: BigInt(c.lastZxidSeen),
        timeOutMs: c.timeOutMs,
        sessionId: BigInt(c.sessionId),
        passwd: c.passwd ?? empty,
        readOnly: c.readOnly ?? undefined,
      };
    }
    case 'request':
      return { kind: 'request', xid: r.xid, op: r.body.type, body: body(r.body) };
    case 'unknown':
      return { kind: 'unknown', xid: r.xid, op: r.type };
    case 'malformed':
      return { kind: 'malformed', xid: r.xid, op: r.type };
  }
}

/** The frame bytes each decoded request came in, for zkRequestSize. */
const frameBytesOf = new WeakMap<ZkIncoming, number>();

/** What a request holds while in flight (the pipeline's sizeOf): its frame's bytes and its object. */
export function zkRequestSize(request: ZkIncoming): number {
  return (frameBytesOf.get(request) ?? 0) + 64;
}

/** The pipeline's decoder for one connection. */
export function zkDecoder(config: CoordConfig): RequestDecoder<ZkIncoming> {
  const d = new ZkRequestDecoder({ packetBytesMax: config.juteMaxBufferBytes });
  return {
    push: (chunk) => d.push(chunk),
    // The buffer kept, not only its unread bytes (a frame of ~1 MiB and a byte keep 2 MiB).
    get heldBytes() {
      return d.bufferBytes;
    },
    next: () => {
      const r = d.next();
      if (r === undefined || !('kind' in r)) return r;
      const request = incoming(r);
      frameBytesOf.set(request, d.lastFrameBytes);
      return request;
    },
  };
}

/** ZooKeeper sends nothing before closing a connection whose bytes it cannot frame. */
export function zkProtocolErrorReply(_error: ProtocolError): Uint8Array | undefined {
  return undefined;
}

function responseBody(op: number, b: ZkReplyBody): W.ResponseBody<W.Long> | null {
  switch (b.t) {
    case 'path':
      return op === OpCode.sync ? { type: OpCode.sync, path: b.path } : { type: OpCode.create, path: b.path };
    case 'pathStat':
      return { type: op as W.Create2Response['type'], path: b.path, stat: wireStat(b.stat) };
    case 'stat':
      return { type: op as W.StatResponse['type'], stat: wireStat(b.stat) };
    case 'data':
      return { type: OpCode.getData, data: b.data, stat: wireStat(b.stat) };
    case 'children':
      return { type: OpCode.getChildren, children: b.children };
    case 'children2':
      return { type: OpCode.getChildren2, children: b.children, stat: wireStat(b.stat) };
    case 'acl':
      return { type: OpCode.getACL, acl: wireAcls(b.acl), stat: wireStat(b.stat) };
    case 'strings':
      return { type: OpCode.getEphemerals, ephemerals: b.list };
    case 'int':
      return op === OpCode.addWatch
        ? { type: OpCode.addWatch, err: b.n }
        : { type: OpCode.getAllChildrenNumber, totalNumber: b.n };
    case 'whoAmI':
      return { type: OpCode.whoAmI, clientInfo: b.infos };
    case 'multi':
      return {
        type: OpCode.multi,
        results: b.results.map((r): W.MultiResult<W.Long> => {
          if (r.op === OpCode.error) return { type: OpCode.error, err: r.err };
          if (r.op === OpCode.create) return { type: OpCode.create, path: r.path ?? '' };
          if (r.op === OpCode.create2 && r.stat)
            return { type: OpCode.create2, path: r.path ?? '', stat: wireStat(r.stat) };
          if (r.op === OpCode.setData && r.stat) return { type: OpCode.setData, stat: wireStat(r.stat) };
          return { type: r.op as typeof OpCode.delete | typeof OpCode.check };
        }),
      };
    case 'multiRead':
      return {
        type: OpCode.multiRead,
        results: b.results.map((r): W.MultiResult<W.Long> => {
          if (r.op === OpCode.getData && r.stat)
            return { type: OpCode.getData, data: r.data ?? empty, stat: wireStat(r.stat) };
          if (r.op === OpCode.getChildren) return { type: OpCode.getChildren, children: r.children ?? [] };
          return { type: OpCode.error, err: r.err };
        }),
      };
  }
}

export function zkEncoder(): ZkEncoder {
  return {
    connectResponse: (r) =>
      encodeConnectResponse({
        protocolVersion: 0,
        timeOutMs: r.timeOutMs,
        sessionId: r.sessionId,
        passwd: r.passwd,
        readOnly: r.readOnly ?? null,
      }),
    reply: (xid, zxid, err, op, b) =>
      encodeReply({ xid, zxid, err }, err === 0 && b !== undefined ? responseBody(op, b) : null),
    notification: (type, state, path) => encodeNotification({ type, state, path }),
  };
}
