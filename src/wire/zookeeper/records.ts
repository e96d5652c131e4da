// ZooKeeper 3.8's client-protocol records (zookeeper.jute) and which record each opcode carries,
// in both directions: the server decodes requests and encodes replies, our TypeScript client
// encodes requests and decodes replies. Bytes only: what a request means is the service's affair.
//
// Grammar (jute, see jute.ts; field order as in zookeeper.jute):
//
//   Id            = ustring scheme, ustring id
//   ACL           = int perms, Id id
//   Stat          = long czxid, long mzxid, long ctime, long mtime, int version, int cversion,
//                   int aversion, long ephemeralOwner, int dataLength, int numChildren, long pzxid
//   ClientInfo    = ustring authScheme, ustring user
//   ConnectRequest  = int protocolVersion, long lastZxidSeen, int timeOut, long sessionId,
//                     buffer passwd [, boolean readOnly]      ; readOnly absent from old clients
//   ConnectResponse = int protocolVersion, int timeOut, long sessionId, buffer passwd
//                     [, boolean readOnly]                    ; the server answers in kind
//   RequestHeader = int xid, int type                         ; then the opcode's request record
//   ReplyHeader   = int xid, long zxid, int err               ; then the opcode's response record,
//                                                             ; none when err != 0
//   MultiHeader   = int type, boolean done, int err
//   multi body    = *(MultiHeader{type, false, -1} op) MultiHeader{-1, true, -1}       ; requests
//   multi reply   = *(MultiHeader{type, false, err} result) MultiHeader{-1, true, -1}  ; results;
//                   a failed op is type -1 (error) with ErrorResponse{int err}
//
// Request record per opcode (ZooKeeper's FinalRequestProcessor/PrepRequestProcessor and
// MultiOperationRecord):
//   create, create2, createContainer  CreateRequest{ustring path, buffer data, vector<ACL> acl, int flags}
//   createTTL                         CreateTTLRequest{... as CreateRequest, long ttl}
//   delete                            DeleteRequest{ustring path, int version}
//   exists, getData, getChildren,
//   getChildren2                      {ustring path, boolean watch}
//   setData                           SetDataRequest{ustring path, buffer data, int version}
//   getACL, sync, getAllChildrenNumber {ustring path}
//   setACL                            SetACLRequest{ustring path, vector<ACL> acl, int version}
//   check                             CheckVersionRequest{ustring path, int version}
//   reconfig                          ReconfigRequest{ustring joiningServers, ustring leavingServers,
//                                                     ustring newMembers, long curConfigId}
//   checkWatches, removeWatches       {ustring path, int type}
//   auth                              AuthPacket{int type, ustring scheme, buffer auth}
//   setWatches                        SetWatches{long relativeZxid, vector<ustring> data/exist/child}
//   setWatches2                       SetWatches2{... , vector<ustring> persistent/persistentRecursive}
//   sasl                              GetSASLRequest{buffer token}
//   getEphemerals                     GetEphemeralsRequest{ustring prefixPath}
//   addWatch                          AddWatchRequest{ustring path, int mode}
//   ping, whoAmI, closeSession        (no body)
//   multi: create/create2/createContainer/createTTL/delete/setData/check; multiRead: getChildren/getData
// Response record per opcode (on success):
//   create CreateResponse{path}; create2/createContainer/createTTL Create2Response{path, Stat};
//   setData, setACL, exists {Stat}; getData, reconfig GetDataResponse{buffer data, Stat};
//   getACL GetACLResponse{vector<ACL>, Stat}; getChildren {vector<ustring>};
//   getChildren2 {vector<ustring>, Stat}; sync SyncResponse{path};
//   getEphemerals {vector<ustring>}; getAllChildrenNumber {int totalNumber};
//   whoAmI WhoAmIResponse{vector<ClientInfo>}; sasl SetSASLResponse{buffer token};
//   addWatch ErrorResponse{int err = 0} (as ZooKeeper 3.8 sends it);
//   delete, check, ping, auth, setWatches(2), checkWatches, removeWatches, closeSession: none.
//   A notification is ReplyHeader{xid -1, zxid -1, err 0} + WatcherEvent{int type, int state, ustring path}.
//
// Decisions:
//   - A request whose header decodes but whose body does not is not a stream error (the frame
//     bounds it): it decodes to `{ type, malformed }`, which ZooKeeper answers with
//     MARSHALLINGERROR (-5) and keeps the connection; so can the service.
//   - An opcode ZooKeeper does not know decodes to `{ type, unknown: true, body }`: ZooKeeper 3.8
//     (ZooKeeperServer.submitRequestNow -> UnimplementedRequestProcessor) answers ReplyHeader
//     {xid, zxid -1, err UNIMPLEMENTED (-6)} and then closes the session (captured in
//     test/fixtures/zookeeper/unknown-opcode.json). deleteContainer (20) and createSession (-10),
//     server-internal types no client sends, are decoded the same way.
//   - Trailing bytes after a request body are ignored (ZooKeeper's server ignores them too).

import { OpCode } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import type { JuteReader, JuteWriter } from './jute.ts';

/** An i64 field to encode: a bigint or a safe-integer number (decoded fields are always bigint). */
export type Long = bigint | number;

export interface Id {
  readonly scheme: string | null;
  readonly id: string | null;
}

export interface Acl {
  readonly perms: number;
  readonly id: Id;
}

export interface Stat<L extends Long = bigint> {
  readonly czxid: L;
  readonly mzxid: L;
  readonly ctime: L;
  readonly mtime: L;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: L;
  readonly dataLength: number;
  readonly numChildren: number;
  readonly pzxid: L;
}

export interface ClientInfo {
  readonly authScheme: string | null;
  readonly user: string | null;
}

export interface ConnectRequest<L extends Long = bigint> {
  readonly protocolVersion: number;
  readonly lastZxidSeen: L;
  readonly timeOutMs: number;
  readonly sessionId: L;
  readonly passwd: Uint8Array | null;
  /** null: the client sent no readOnly byte (an old client; answer without one too). */
  readonly readOnly: boolean | null;
}

export interface ConnectResponse<L extends Long = bigint> {
  readonly protocolVersion: number;
  readonly timeOutMs: number;
  readonly sessionId: L;
  readonly passwd: Uint8Array | null;
  /** null: write no readOnly byte (the client sent none). */
  readonly readOnly: boolean | null;
}

export interface ReplyHeader<L extends Long = bigint> {
  readonly xid: number;
  readonly zxid: L;
  /** ZkErr; 0 = ok, and only then is a response record written. */
  readonly err: number;
}

export interface WatcherEvent {
  /** EventType. */
  readonly type: number;
  /** KeeperState. */
  readonly state: number;
  readonly path: string | null;
}

// ---- requests ------------------------------------------------------------------------------------

type Path = string | null;

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

// ---- responses -----------------------------------------------------------------------------------

export interface CreateResponse {
  readonly type: typeof OpCode.create;
  readonly path: Path;
}
export interface Create2Response<L extends Long = bigint> {
  readonly type: typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL;
  readonly path: Path;
  readonly stat: Stat<L>;
}
export interface StatResponse<L extends Long = bigint> {
  readonly type: typeof OpCode.setData | typeof OpCode.setACL | typeof OpCode.exists;
  readonly stat: Stat<L>;
}
export interface GetDataResponse<L extends Long = bigint> {
  readonly type: typeof OpCode.getData | typeof OpCode.reconfig;
  readonly data: Uint8Array | null;
  readonly stat: Stat<L>;
}
export interface GetAclResponse<L extends Long = bigint> {
  readonly type: typeof OpCode.getACL;
  readonly acl: readonly Acl[] | null;
  readonly stat: Stat<L>;
}
export interface GetChildrenResponse {
  readonly type: typeof OpCode.getChildren;
  readonly children: readonly string[] | null;
}
export interface GetChildren2Response<L extends Long = bigint> {
  readonly type: typeof OpCode.getChildren2;
  readonly children: readonly string[] | null;
  readonly stat: Stat<L>;
}
export interface SyncResponse {
  readonly type: typeof OpCode.sync;
  readonly path: Path;
}
export interface GetEphemeralsResponse {
  readonly type: typeof OpCode.getEphemerals;
  readonly ephemerals: readonly string[] | null;
}
export interface GetAllChildrenNumberResponse {
  readonly type: typeof OpCode.getAllChildrenNumber;
  readonly totalNumber: number;
}
export interface WhoAmIResponse {
  readonly type: typeof OpCode.whoAmI;
  readonly clientInfo: readonly ClientInfo[] | null;
}
export interface SaslResponse {
  readonly type: typeof OpCode.sasl;
  readonly token: Uint8Array | null;
}
/** addWatch's success body: ErrorResponse{err: 0}. */
export interface AddWatchResponse {
  readonly type: typeof OpCode.addWatch;
  readonly err: number;
}
export interface EmptyResponse {
  readonly type:
    | typeof OpCode.delete
    | typeof OpCode.check
    | typeof OpCode.ping
    | typeof OpCode.auth
    | typeof OpCode.setWatches
    | typeof OpCode.setWatches2
    | typeof OpCode.checkWatches
    | typeof OpCode.removeWatches
    | typeof OpCode.closeSession;
}
/** A failed op inside a multi/multiRead reply (the others are rolled back: ZooKeeper reports ok ones as
 * RUNTIMEINCONSISTENCY or OK errors, which the service decides). */
export interface ErrorResult {
  readonly type: typeof OpCode.error;
  readonly err: number;
}
export type MultiResult<L extends Long = bigint> =
  | CreateResponse
  | Create2Response<L>
  | (StatResponse<L> & { readonly type: typeof OpCode.setData })
  | (GetDataResponse<L> & { readonly type: typeof OpCode.getData })
  | GetChildrenResponse
  | { readonly type: typeof OpCode.delete | typeof OpCode.check }
  | ErrorResult;
export interface MultiResponse<L extends Long = bigint> {
  readonly type: typeof OpCode.multi | typeof OpCode.multiRead;
  readonly results: readonly MultiResult<L>[];
}

/** Every response body (sent only when the reply header's err is 0), discriminated by opcode. */
export type ResponseBody<L extends Long = bigint> =
  | CreateResponse
  | Create2Response<L>
  | StatResponse<L>
  | GetDataResponse<L>
  | GetAclResponse<L>
  | GetChildrenResponse
  | GetChildren2Response<L>
  | SyncResponse
  | GetEphemeralsResponse
  | GetAllChildrenNumberResponse
  | WhoAmIResponse
  | SaslResponse
  | AddWatchResponse
  | EmptyResponse
  | MultiResponse<L>;

// ---- shared records ------------------------------------------------------------------------------

export function readId(r: JuteReader): Id {
  return { scheme: r.ustring('Id.scheme'), id: r.ustring('Id.id') };
}
export function writeId(w: JuteWriter, id: Id): void {
  w.ustring(id.scheme).ustring(id.id);
}
export function readAcl(r: JuteReader): Acl {
  return { perms: r.int('ACL.perms'), id: readId(r) };
}
export function writeAcl(w: JuteWriter, acl: Acl): void {
  w.int(acl.perms);
  writeId(w, acl.id);
}
export function readStat(r: JuteReader): Stat {
  return {
    czxid: r.long('Stat.czxid'),
    mzxid: r.long('Stat.mzxid'),
    ctime: r.long('Stat.ctime'),
    mtime: r.long('Stat.mtime'),
    version: r.int('Stat.version'),
    cversion: r.int('Stat.cversion'),
    aversion: r.int('Stat.aversion'),
    ephemeralOwner: r.long('Stat.ephemeralOwner'),
    dataLength: r.int('Stat.dataLength'),
    numChildren: r.int('Stat.numChildren'),
    pzxid: r.long('Stat.pzxid'),
  };
}
export function writeStat(w: JuteWriter, s: Stat<Long>): void {
  w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime);
  w.int(s.version).int(s.cversion).int(s.aversion);
  w.long(s.ephemeralOwner).int(s.dataLength).int(s.numChildren).long(s.pzxid);
}
function readClientInfo(r: JuteReader): ClientInfo {
  return { authScheme: r.ustring('ClientInfo.authScheme'), user: r.ustring('ClientInfo.user') };
}
const readString = (r: JuteReader): string => r.ustring('vector element') ?? '';
const writeString = (w: JuteWriter, s: string): void => {
  w.ustring(s);
};
/** Vectors of ustring: a null element (never sent by clients) reads as ''. */
function readStrings(r: JuteReader, field: string): string[] | null {
  return r.vector(readString, field);
}

// ---- connect -------------------------------------------------------------------------------------

export function readConnectRequest(r: JuteReader): ConnectRequest {
  const protocolVersion = r.int('ConnectRequest.protocolVersion');
  const lastZxidSeen = r.long('ConnectRequest.lastZxidSeen');
  const timeOutMs = r.int('ConnectRequest.timeOut');
  const sessionId = r.long('ConnectRequest.sessionId');
  const passwd = r.buffer('ConnectRequest.passwd');
  // ZooKeeperServer.processConnectRequest: a missing readOnly byte marks an old client.
  const readOnly = r.remaining > 0 ? r.bool('ConnectRequest.readOnly') : null;
  return { protocolVersion, lastZxidSeen, timeOutMs, sessionId, passwd, readOnly };
}
export function writeConnectRequest(w: JuteWriter, c: ConnectRequest<Long>): void {
  w.int(c.protocolVersion).long(c.lastZxidSeen).int(c.timeOutMs).long(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== null) w.bool(c.readOnly);
}
export function readConnectResponse(r: JuteReader): ConnectResponse {
  const protocolVersion = r.int('ConnectResponse.protocolVersion');
  const timeOutMs = r.int('ConnectResponse.timeOut');
  const sessionId = r.long('ConnectResponse.sessionId');
  const passwd = r.buffer('ConnectResponse.passwd');
  const readOnly = r.remaining > 0 ? r.bool('ConnectResponse.readOnly') : null;
  return { protocolVersion, timeOutMs, sessionId, passwd, readOnly };
}
export function writeConnectResponse(w: JuteWriter, c: ConnectResponse<Long>): void {
  w.int(c.protocolVersion).int(c.timeOutMs).long(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== null) w.bool(c.readOnly);
}

export function readReplyHeader(r: JuteReader): ReplyHeader {
  return { xid: r.int('ReplyHeader.xid'), zxid: r.long('ReplyHeader.zxid'), err: r.int('ReplyHeader.err') };
}
export function writeReplyHeader(w: JuteWriter, h: ReplyHeader<Long>): void {
  w.int(h.xid).long(h.zxid).int(h.err);
}
export function readWatcherEvent(r: JuteReader): WatcherEvent {
  return { type: r.int('WatcherEvent.type'), state: r.int('WatcherEvent.state'), path: r.ustring('WatcherEvent.path') };
}
export function writeWatcherEvent(w: JuteWriter, e: WatcherEvent): void {
  w.int(e.type).int(e.state).ustring(e.path);
}

// ---- request bodies ------------------------------------------------------------------------------

const multiEnd = { type: -1, done: true, err: -1 } as const;

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

// ---- response bodies -----------------------------------------------------------------------------

/** The opcodes whose reply body this module decodes (a client decodes by the type it sent). */
export type ResponseType = ResponseBody['type'];

/** Reads the response body of a successful (err 0) reply to a request of `type`; throws ProtocolError. */
export function readResponseBody(type: ResponseType, r: JuteReader): ResponseBody {
  switch (type) {
    case OpCode.create:
      return { type, path: r.ustring('CreateResponse.path') };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return { type, path: r.ustring('Create2Response.path'), stat: readStat(r) };
    case OpCode.setData:
    case OpCode.setACL:
    case OpCode.exists:
      return { type, stat: readStat(r) };
    case OpCode.getData:
    case OpCode.reconfig:
      return { type, data: r.buffer('GetDataResponse.data'), stat: readStat(r) };
    case OpCode.getACL:
      return { type, acl: r.vector(readAcl, 'GetACLResponse.acl'), stat: readStat(r) };
    case OpCode.getChildren:
      return { type, children: readStrings(r, 'GetChildrenResponse.children') };
    case OpCode.getChildren2:
      return { type, children: readStrings(r, 'GetChildren2Response.children'), stat: readStat(r) };
    case OpCode.sync:
      return { type, path: r.ustring('SyncResponse.path') };
    case OpCode.getEphemerals:
      return { type, ephemerals: readStrings(r, 'GetEphemeralsResponse.ephemerals') };
    case OpCode.getAllChildrenNumber:
      return { type, totalNumber: r.int('GetAllChildrenNumberResponse.totalNumber') };
    case OpCode.whoAmI:
      return { type, clientInfo: r.vector(readClientInfo, 'WhoAmIResponse.clientInfo') };
    case OpCode.sasl:
      return { type, token: r.buffer('SetSASLResponse.token') };
    case OpCode.addWatch:
      return { type, err: r.int('ErrorResponse.err') };
    case OpCode.multi:
    case OpCode.multiRead:
      return { type, results: readMultiResults(r) };
    default:
      return { type };
  }
}

function readMultiResults(r: JuteReader): MultiResult[] {
  const results: MultiResult[] = [];
  for (;;) {
    const type = r.int('MultiHeader.type');
    const done = r.bool('MultiHeader.done');
    const err = r.int('MultiHeader.err');
    if (done) return results;
    switch (type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
      case OpCode.setData:
      case OpCode.getData:
      case OpCode.getChildren:
      case OpCode.delete:
      case OpCode.check:
        results.push(readResponseBody(type, r) as MultiResult);
        break;
      case OpCode.error: {
        const bodyErr = r.int('ErrorResponse.err');
        if (bodyErr !== err) {
          throw new ProtocolError('zk_bad_multi_op', 'multi: an error result whose header and body disagree', {
            headerErr: err,
            bodyErr,
          });
        }
        results.push({ type, err });
        break;
      }
      default:
        throw new ProtocolError('zk_bad_multi_op', `multi: result type ${type} is not a multi result`, { type });
    }
  }
}

/** Writes a successful reply's response body (no header). */
export function writeResponseBody(w: JuteWriter, b: ResponseBody<Long>): void {
  switch (b.type) {
    case OpCode.create:
    case OpCode.sync:
      w.ustring(b.path);
      return;
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      w.ustring(b.path);
      writeStat(w, b.stat);
      return;
    case OpCode.setData:
    case OpCode.setACL:
    case OpCode.exists:
      writeStat(w, b.stat);
      return;
    case OpCode.getData:
    case OpCode.reconfig:
      w.buffer(b.data);
      writeStat(w, b.stat);
      return;
    case OpCode.getACL:
      w.vector(b.acl, writeAcl);
      writeStat(w, b.stat);
      return;
    case OpCode.getChildren:
      w.vector(b.children, writeString);
      return;
    case OpCode.getChildren2:
      w.vector(b.children, writeString);
      writeStat(w, b.stat);
      return;
    case OpCode.getEphemerals:
      w.vector(b.ephemerals, writeString);
      return;
    case OpCode.getAllChildrenNumber:
      w.int(b.totalNumber);
      return;
    case OpCode.whoAmI:
      w.vector(b.clientInfo, (ww, c) => {
        ww.ustring(c.authScheme).ustring(c.user);
      });
      return;
    case OpCode.sasl:
      w.buffer(b.token);
      return;
    case OpCode.addWatch:
      w.int(b.err);
      return;
    case OpCode.multi:
    case OpCode.multiRead:
      for (const res of b.results) {
        const err = res.type === OpCode.error ? res.err : 0;
        w.int(res.type).bool(false).int(err);
        if (res.type === OpCode.error) w.int(res.err);
        else writeResponseBody(w, res);
      }
      w.int(multiEnd.type).bool(multiEnd.done).int(multiEnd.err);
      return;
    default:
      return;
  }
}
