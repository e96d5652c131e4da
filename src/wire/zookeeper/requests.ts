// ZooKeeper 3.8's request bodies, one per opcode (RequestHeader.type), both directions: the server
// decodes them, our client encodes them. Which record each opcode carries, the multi framing and the
// decisions (malformed bodies, unknown opcodes, trailing bytes) are written at the top of records.ts.

import { OpCode } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import type { JuteReader, JuteWriter } from './jute.ts';
import { type Acl, type Long, multiEnd, type Path, readAcl, readStrings, writeAcl, writeString } from './records.ts';

export interface CreateRequest {
  readonly type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer;
  readonly path: Path;
  readonly data: Uint8Array | null;
  readonly acl: readonly Acl[] | null;
  /** CreateMode. */
  readonly flags: number;
}
export interface CreateTtlRequest<L extends Long = bigint> {
  readonly type: typeof OpCode.createTTL;
  readonly path: Path;
  readonly data: Uint8Array | null;
  readonly acl: readonly Acl[] | null;
  readonly flags: number;
  readonly ttl: L;
}
export interface DeleteRequest {
  readonly type: typeof OpCode.delete;
  readonly path: Path;
  readonly version: number;
}
export interface PathWatchRequest {
  readonly type: typeof OpCode.exists | typeof OpCode.getData | typeof OpCode.getChildren | typeof OpCode.getChildren2;
  readonly path: Path;
  readonly watch: boolean;
}
export interface SetDataRequest {
  readonly type: typeof OpCode.setData;
  readonly path: Path;
  readonly data: Uint8Array | null;
  readonly version: number;
}
export interface PathRequest {
  readonly type: typeof OpCode.getACL | typeof OpCode.sync | typeof OpCode.getAllChildrenNumber;
  readonly path: Path;
}
export interface SetAclRequest {
  readonly type: typeof OpCode.setACL;
  readonly path: Path;
  readonly acl: readonly Acl[] | null;
  readonly version: number;
}
export interface CheckVersionRequest {
  readonly type: typeof OpCode.check;
  readonly path: Path;
  readonly version: number;
}
export interface ReconfigRequest<L extends Long = bigint> {
  readonly type: typeof OpCode.reconfig;
  readonly joiningServers: string | null;
  readonly leavingServers: string | null;
  readonly newMembers: string | null;
  readonly curConfigId: L;
}
export interface WatchesRequest {
  readonly type: typeof OpCode.checkWatches | typeof OpCode.removeWatches;
  readonly path: Path;
  /** WatcherType. */
  readonly watcherType: number;
}
export interface AuthRequest {
  readonly type: typeof OpCode.auth;
  /** AuthPacket.type (clients send 0). */
  readonly authType: number;
  readonly scheme: string | null;
  readonly auth: Uint8Array | null;
}
export interface SetWatchesRequest<L extends Long = bigint> {
  readonly type: typeof OpCode.setWatches;
  readonly relativeZxid: L;
  readonly dataWatches: readonly string[] | null;
  readonly existWatches: readonly string[] | null;
  readonly childWatches: readonly string[] | null;
}
export interface SetWatches2Request<L extends Long = bigint> {
  readonly type: typeof OpCode.setWatches2;
  readonly relativeZxid: L;
  readonly dataWatches: readonly string[] | null;
  readonly existWatches: readonly string[] | null;
  readonly childWatches: readonly string[] | null;
  readonly persistentWatches: readonly string[] | null;
  readonly persistentRecursiveWatches: readonly string[] | null;
}
export interface SaslRequest {
  readonly type: typeof OpCode.sasl;
  readonly token: Uint8Array | null;
}
export interface GetEphemeralsRequest {
  readonly type: typeof OpCode.getEphemerals;
  readonly prefixPath: Path;
}
export interface AddWatchRequest {
  readonly type: typeof OpCode.addWatch;
  readonly path: Path;
  /** AddWatchMode. */
  readonly mode: number;
}
export interface EmptyRequest {
  readonly type: typeof OpCode.ping | typeof OpCode.whoAmI | typeof OpCode.closeSession;
}
/** An op inside multi (writes) or multiRead (reads). */
export type MultiOp<L extends Long = bigint> =
  | CreateRequest
  | CreateTtlRequest<L>
  | DeleteRequest
  | SetDataRequest
  | CheckVersionRequest
  | (PathWatchRequest & { readonly type: typeof OpCode.getData | typeof OpCode.getChildren });
export interface MultiRequest<L extends Long = bigint> {
  readonly type: typeof OpCode.multi | typeof OpCode.multiRead;
  readonly ops: readonly MultiOp<L>[];
}
/** A type ZooKeeper does not serve to clients: answer UNIMPLEMENTED, then close (see the header). */
export interface UnknownRequest {
  readonly type: number;
  readonly unknown: true;
  readonly body: Uint8Array;
}

/** Every request body a client can send, discriminated by its opcode. */
export type RequestBody<L extends Long = bigint> =
  | CreateRequest
  | CreateTtlRequest<L>
  | DeleteRequest
  | PathWatchRequest
  | SetDataRequest
  | PathRequest
  | SetAclRequest
  | CheckVersionRequest
  | ReconfigRequest<L>
  | WatchesRequest
  | AuthRequest
  | SetWatchesRequest<L>
  | SetWatches2Request<L>
  | SaslRequest
  | GetEphemeralsRequest
  | AddWatchRequest
  | EmptyRequest
  | MultiRequest<L>;

/** The opcodes whose body this module decodes (ZooKeeper's Request.isValid, minus server-internal types). */
export function isKnownRequestType(type: number): type is RequestBody['type'] {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
    case OpCode.delete:
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
    case OpCode.setData:
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
    case OpCode.setACL:
    case OpCode.check:
    case OpCode.reconfig:
    case OpCode.checkWatches:
    case OpCode.removeWatches:
    case OpCode.auth:
    case OpCode.setWatches:
    case OpCode.setWatches2:
    case OpCode.sasl:
    case OpCode.getEphemerals:
    case OpCode.addWatch:
    case OpCode.ping:
    case OpCode.whoAmI:
    case OpCode.closeSession:
    case OpCode.multi:
    case OpCode.multiRead:
      return true;
    default:
      return false;
  }
}

/** Reads the body of a request of a known type (isKnownRequestType); throws ProtocolError. */
export function readRequestBody(type: RequestBody['type'], r: JuteReader): RequestBody {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return {
        type,
        path: r.ustring('CreateRequest.path'),
        data: r.buffer('CreateRequest.data'),
        acl: r.vector(readAcl, 'CreateRequest.acl'),
        flags: r.int('CreateRequest.flags'),
      };
    case OpCode.createTTL:
      return {
        type,
        path: r.ustring('CreateTTLRequest.path'),
        data: r.buffer('CreateTTLRequest.data'),
        acl: r.vector(readAcl, 'CreateTTLRequest.acl'),
        flags: r.int('CreateTTLRequest.flags'),
        ttl: r.long('CreateTTLRequest.ttl'),
      };
    case OpCode.delete:
      return { type, path: r.ustring('DeleteRequest.path'), version: r.int('DeleteRequest.version') };
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      return { type, path: r.ustring('path'), watch: r.bool('watch') };
    case OpCode.setData:
      return {
        type,
        path: r.ustring('SetDataRequest.path'),
        data: r.buffer('SetDataRequest.data'),
        version: r.int('SetDataRequest.version'),
      };
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
      return { type, path: r.ustring('path') };
    case OpCode.setACL:
      return {
        type,
        path: r.ustring('SetACLRequest.path'),
        acl: r.vector(readAcl, 'SetACLRequest.acl'),
        version: r.int('SetACLRequest.version'),
      };
    case OpCode.check:
      return { type, path: r.ustring('CheckVersionRequest.path'), version: r.int('CheckVersionRequest.version') };
    case OpCode.reconfig:
      return {
        type,
        joiningServers: r.ustring('ReconfigRequest.joiningServers'),
        leavingServers: r.ustring('ReconfigRequest.leavingServers'),
        newMembers: r.ustring('ReconfigRequest.newMembers'),
        curConfigId: r.long('ReconfigRequest.curConfigId'),
      };
    case OpCode.checkWatches:
    case OpCode.removeWatches:
      return { type, path: r.ustring('path'), watcherType: r.int('type') };
    case OpCode.auth:
      return {
        type,
        authType: r.int('AuthPacket.type'),
        scheme: r.ustring('AuthPacket.scheme'),
        auth: r.buffer('AuthPacket.auth'),
      };
    case OpCode.setWatches:
      return {
        type,
        relativeZxid: r.long('SetWatches.relativeZxid'),
        dataWatches: readStrings(r, 'SetWatches.dataWatches'),
        existWatches: readStrings(r, 'SetWatches.existWatches'),
        childWatches: readStrings(r, 'SetWatches.childWatches'),
      };
    case OpCode.setWatches2:
      return {
        type,
        relativeZxid: r.long('SetWatches2.relativeZxid'),
        dataWatches: readStrings(r, 'SetWatches2.dataWatches'),
        existWatches: readStrings(r, 'SetWatches2.existWatches'),
        childWatches: readStrings(r, 'SetWatches2.childWatches'),
        persistentWatches: readStrings(r, 'SetWatches2.persistentWatches'),
        persistentRecursiveWatches: readStrings(r, 'SetWatches2.persistentRecursiveWatches'),
      };
    case OpCode.sasl:
      return { type, token: r.buffer('GetSASLRequest.token') };
    case OpCode.getEphemerals:
      return { type, prefixPath: r.ustring('GetEphemeralsRequest.prefixPath') };
    case OpCode.addWatch:
      return { type, path: r.ustring('AddWatchRequest.path'), mode: r.int('AddWatchRequest.mode') };
    case OpCode.ping:
    case OpCode.whoAmI:
    case OpCode.closeSession:
      return { type };
    case OpCode.multi:
    case OpCode.multiRead:
      return { type, ops: readMultiOps(r) };
  }
}

function readMultiOps(r: JuteReader): MultiOp[] {
  const ops: MultiOp[] = [];
  for (;;) {
    const type = r.int('MultiHeader.type');
    const done = r.bool('MultiHeader.done');
    r.int('MultiHeader.err');
    if (done) return ops;
    switch (type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
      case OpCode.delete:
      case OpCode.setData:
      case OpCode.check:
      case OpCode.getData:
      case OpCode.getChildren:
        ops.push(readRequestBody(type, r) as MultiOp);
        break;
      default:
        // MultiOperationRecord: "Invalid type of op" (the request gets MARSHALLINGERROR).
        throw new ProtocolError('zk_bad_multi_op', `multi: op type ${type} is not allowed in a multi`, { type });
    }
  }
}

/** Writes a request body (no header). */
export function writeRequestBody(w: JuteWriter, b: RequestBody<Long>): void {
  switch (b.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      w.ustring(b.path).buffer(b.data).vector(b.acl, writeAcl).int(b.flags);
      return;
    case OpCode.createTTL:
      w.ustring(b.path).buffer(b.data).vector(b.acl, writeAcl).int(b.flags).long(b.ttl);
      return;
    case OpCode.delete:
    case OpCode.check:
      w.ustring(b.path).int(b.version);
      return;
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      w.ustring(b.path).bool(b.watch);
      return;
    case OpCode.setData:
      w.ustring(b.path).buffer(b.data).int(b.version);
      return;
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
      w.ustring(b.path);
      return;
    case OpCode.setACL:
      w.ustring(b.path).vector(b.acl, writeAcl).int(b.version);
      return;
    case OpCode.reconfig:
      w.ustring(b.joiningServers).ustring(b.leavingServers).ustring(b.newMembers).long(b.curConfigId);
      return;
    case OpCode.checkWatches:
    case OpCode.removeWatches:
      w.ustring(b.path).int(b.watcherType);
      return;
    case OpCode.auth:
      w.int(b.authType).ustring(b.scheme).buffer(b.auth);
      return;
    case OpCode.setWatches:
      w.long(b.relativeZxid);
      w.vector(b.dataWatches, writeString).vector(b.existWatches, writeString).vector(b.childWatches, writeString);
      return;
    case OpCode.setWatches2:
      w.long(b.relativeZxid);
      w.vector(b.dataWatches, writeString).vector(b.existWatches, writeString).vector(b.childWatches, writeString);
      w.vector(b.persistentWatches, writeString).vector(b.persistentRecursiveWatches, writeString);
      return;
    case OpCode.sasl:
      w.buffer(b.token);
      return;
    case OpCode.getEphemerals:
      w.ustring(b.prefixPath);
      return;
    case OpCode.addWatch:
      w.ustring(b.path).int(b.mode);
      return;
    case OpCode.ping:
    case OpCode.whoAmI:
    case OpCode.closeSession:
      return;
    case OpCode.multi:
    case OpCode.multiRead:
      for (const op of b.ops) {
        w.int(op.type).bool(false).int(-1);
        writeRequestBody(w, op);
      }
      w.int(multiEnd.type).bool(multiEnd.done).int(multiEnd.err);
      return;
  }
}
