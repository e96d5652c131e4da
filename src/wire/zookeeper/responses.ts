// ZooKeeper 3.8's response bodies, one per opcode of the request answered (written only when the
// ReplyHeader's err is 0), both directions: the server encodes them, our client decodes them. The
// table of which opcode answers with which record is at the top of records.ts.

import { OpCode } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import type { JuteReader, JuteWriter } from './jute.ts';
import {
  type Acl,
  type ClientInfo,
  type Long,
  multiEnd,
  type Path,
  readAcl,
  readClientInfo,
  readStat,
  readStrings,
  type Stat,
  writeAcl,
  writeStat,
  writeString,
} from './records.ts';

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
