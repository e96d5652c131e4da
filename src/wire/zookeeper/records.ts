// ZooKeeper 3.8's client-protocol records (zookeeper.jute): the shared ones (Id, ACL, Stat,
// ClientInfo), the connect handshake, the headers and the watch notification, in both directions.
// The opcode bodies are in requests.ts and responses.ts; the table below says which carries which.
// Bytes only: what a request means is the service's affair.
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

/** A znode path as the wire carries it (null = length -1). */
export type Path = string | null;

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
export function readClientInfo(r: JuteReader): ClientInfo {
  return { authScheme: r.ustring('ClientInfo.authScheme'), user: r.ustring('ClientInfo.user') };
}
export const readString = (r: JuteReader): string => r.ustring('vector element') ?? '';
export const writeString = (w: JuteWriter, s: string): void => {
  w.ustring(s);
};
/** Vectors of ustring: a null element (never sent by clients) reads as ''. */
export function readStrings(r: JuteReader, field: string): string[] | null {
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

/** The MultiHeader that ends a multi's ops or results. */
export const multiEnd = { type: -1, done: true, err: -1 } as const;
