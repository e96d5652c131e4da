// The znode namespace's commands and results: what the coordination service proposes through Raft
// and what it gets back to turn into a ZooKeeper reply. Untrusted only in the sense that a log
// entry may come from a newer or broken build: decoding is total (every malformed payload is a
// ProtocolError thrown before the tree changes, which the state machine answers as
// `malformed_command`), bounded by the limits named below, and never reaches an assert.
//
// Command (v2) = u8 version(2) | u8 type | body, nothing after it
//   type 1 createSession    = uvarint timeoutMs | uvarint-bytes passwd (≤ PASSWD_BYTES_MAX) | uvarint owner
//   type 2 closeSession     = uvarint sessionId
//   type 3 write            = Header | Op
//   type 4 multi            = Header | uvarint count (≤ coordMultiOpsMax) | count × Op
//   type 5 deleteContainer  = Header | Path
//   type 6 deleteExpiredTtl = Header | Path
//   type 7 setOwner         = uvarint sessionId | uvarint owner
//   Header = f64 timeMs (finite) | uvarint sessionId | uvarint owner | uvarint n (≤ coordIdentityEntriesMax)
//            | n × (uvarint-string scheme | uvarint-string id)
//   owner: the connection that holds the session (ZooKeeper's session owner), 0 = none/unchecked.
//   v1 (still decoded: logs written before v2) is v2 without the owner fields (owner 0).
//   Path   = uvarint-string (≤ coordPathCharsMax UTF-16 units)
//   Data   = uvarint-bytes (≤ the namespace's dataBytesMax, default coordZnodeDataBytesMax)
//   Acl    = uvarint n (≤ coordAclEntriesMax) | n × (u32 perms | uvarint-string scheme | uvarint-string id)
//   Op = u8 kind | body
//     kind 1 create = Path | Data | Acl | varint mode (any i32: an unknown mode is BADARGUMENTS, not
//                     malformed) | uvarint ttlMs+1 (0 = none, i.e. -1)
//     kind 2 delete = Path | varint version
//     kind 3 setData = Path | Data | varint version
//     kind 4 check  = Path | varint version
//     kind 5 setACL = Path | Acl | varint version
//     kind 6 fail   = varint err (< 0: a ZooKeeper error code; a multi's op refused before proposing)
//
// Result (v1) = u8 version(1) | varint err | u8 kind | body
//   kind 0 none     (closeSession, cleanups, errors with nothing else)
//   kind 1 session  = uvarint sessionId
//   kind 2 op       = OpResult
//   kind 3 multi    = uvarint count | count × OpResult
//   OpResult = varint err | u8 flags (bit 0 path, bit 1 stat) | [Path] | [Stat]
//   Stat = uvarint czxid | uvarint mzxid | f64 ctime | f64 mtime | varint version | varint cversion
//          | varint aversion | i64 ephemeralOwner | uvarint dataLength | uvarint numChildren | uvarint pzxid
// Versions of both formats are bumped, never reinterpreted.

import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { Acl, Id } from './acl.ts';
import type { ZkErr } from './codes.ts';
import type { OpResult, Stat, WriteOp } from './tree.ts';

export const COMMAND_VERSION = 2;
const COMMAND_VERSION_NO_OWNER = 1;
export const RESULT_VERSION = 1;
/** A session password (ZooKeeper's are 16 bytes). */
export const PASSWD_BYTES_MAX = 64;

export interface WriteHeader {
  /** The proposer's wall time, ms. */
  readonly timeMs: number;
  readonly sessionId: number;
  /**
   * The connection the write came through (ZooKeeper's session owner); a session owned by another
   * connection answers SESSIONMOVED at apply. Absent (0) for the leader's own proposals.
   */
  readonly owner?: number;
  readonly identities: readonly Id[];
}

export type CoordCommand =
  | { readonly type: 'createSession'; readonly timeoutMs: number; readonly passwd: Uint8Array; readonly owner?: number }
  /** A reconnect: the session's owner becomes this connection (ZooKeeper's setOwner on revalidation). */
  | { readonly type: 'setOwner'; readonly sessionId: number; readonly owner: number }
  | { readonly type: 'closeSession'; readonly sessionId: number }
  | { readonly type: 'write'; readonly header: WriteHeader; readonly op: WriteOp }
  | { readonly type: 'multi'; readonly header: WriteHeader; readonly ops: readonly WriteOp[] }
  | { readonly type: 'deleteContainer'; readonly header: WriteHeader; readonly path: string }
  | { readonly type: 'deleteExpiredTtl'; readonly header: WriteHeader; readonly path: string };

export interface CoordResult {
  readonly err: ZkErr;
  /** createSession: the new session's id. */
  readonly sessionId?: number;
  /** write: the op's result. */
  readonly op?: OpResult;
  /** multi: one result per op. */
  readonly results?: readonly OpResult[];
}

const TYPE = {
  createSession: 1,
  closeSession: 2,
  write: 3,
  multi: 4,
  deleteContainer: 5,
  deleteExpiredTtl: 6,
  setOwner: 7,
};
const OP = { create: 1, delete: 2, setData: 3, check: 4, setACL: 5, fail: 6 };
const COMMAND_BYTES_MAX = 2 ** 31 - 1;

// --- encoding ------------------------------------------------------------------------------------

function writeHeader(w: ByteWriter, h: WriteHeader): void {
  w.f64(h.timeMs)
    .uvarint(h.sessionId)
    .uvarint(h.owner ?? 0)
    .uvarint(h.identities.length);
  for (const i of h.identities) w.stringUvarint(i.scheme).stringUvarint(i.id);
}

function writeAcl(w: ByteWriter, acl: readonly Acl[]): void {
  w.uvarint(acl.length);
  for (const a of acl)
    w.u32(a.perms >>> 0)
      .stringUvarint(a.scheme)
      .stringUvarint(a.id);
}

function writeOp(w: ByteWriter, op: WriteOp): void {
  switch (op.op) {
    case 'create':
      w.u8(OP.create).stringUvarint(op.path).bytesUvarint(op.data);
      writeAcl(w, op.acl);
      w.varint(op.mode).uvarint(op.ttlMs + 1);
      return;
    case 'delete':
      w.u8(OP.delete).stringUvarint(op.path).varint(op.version);
      return;
    case 'setData':
      w.u8(OP.setData).stringUvarint(op.path).bytesUvarint(op.data).varint(op.version);
      return;
    case 'check':
      w.u8(OP.check).stringUvarint(op.path).varint(op.version);
      return;
    case 'setACL':
      w.u8(OP.setACL).stringUvarint(op.path);
      writeAcl(w, op.acl);
      w.varint(op.version);
      return;
    case 'fail':
      w.u8(OP.fail).varint(op.err);
      return;
  }
}

export function encodeCommand(c: CoordCommand): Uint8Array {
  const w = new ByteWriter({ bytesMax: COMMAND_BYTES_MAX });
  w.u8(COMMAND_VERSION).u8(TYPE[c.type]);
  switch (c.type) {
    case 'createSession':
      w.uvarint(c.timeoutMs)
        .bytesUvarint(c.passwd)
        .uvarint(c.owner ?? 0);
      break;
    case 'setOwner':
      w.uvarint(c.sessionId).uvarint(c.owner);
      break;
    case 'closeSession':
      w.uvarint(c.sessionId);
      break;
    case 'write':
      writeHeader(w, c.header);
      writeOp(w, c.op);
      break;
    case 'multi':
      writeHeader(w, c.header);
      w.uvarint(c.ops.length);
      for (const op of c.ops) writeOp(w, op);
      break;
    case 'deleteContainer':
    case 'deleteExpiredTtl':
      writeHeader(w, c.header);
      w.stringUvarint(c.path);
      break;
  }
  return w.finish().slice();
}

// --- decoding ------------------------------------------------------------------------------------

function bad(what: string, fields: Record<string, unknown> = {}): never {
  throw new ProtocolError('malformed', `znode command: ${what}`, fields);
}

function count(r: ByteReader, max: number, what: string): number {
  const n = r.uvarint();
  if (n > max) throw new ProtocolError('invalid_length', `znode command: ${n} ${what}, more than ${max}`, { n, max });
  return n;
}

function path(r: ByteReader): string {
  const p = r.stringUvarint();
  if (p.length > limits.coordPathCharsMax) bad('path too long', { chars: p.length });
  return p;
}

function data(r: ByteReader, dataBytesMax: number): Uint8Array {
  const at = r.position;
  const d = r.bytesUvarint();
  if (d.length > dataBytesMax)
    throw new ProtocolError('invalid_length', `znode data of ${d.length} bytes, more than ${dataBytesMax}`, {
      offset: at,
      bytes: d.length,
    });
  return d.slice();
}

function version(r: ByteReader): number {
  return r.varint();
}

/** An owner field (v2), or 0 where the version has none; 0 is left out of the decoded value. */
function owner(r: ByteReader, v: number): { owner?: number } {
  const o = v === COMMAND_VERSION_NO_OWNER ? 0 : r.uvarint();
  return o === 0 ? {} : { owner: o };
}

function readHeader(r: ByteReader, v: number): WriteHeader {
  const timeMs = r.f64();
  if (!Number.isFinite(timeMs)) bad('time is not finite');
  const sessionId = r.uvarint();
  const o = owner(r, v);
  const n = count(r, limits.coordIdentityEntriesMax, 'identities');
  const identities: Id[] = [];
  for (let i = 0; i < n; i++) {
    const scheme = r.stringUvarint();
    const id = r.stringUvarint();
    if (utf8ByteLength(id) > limits.coordIdentityBytesMax) bad(`an identity of ${utf8ByteLength(id)} bytes`);
    identities.push({ scheme, id });
  }
  return { timeMs, sessionId, ...o, identities };
}

function readAcl(r: ByteReader): Acl[] {
  const n = count(r, limits.coordAclEntriesMax, 'ACL entries');
  const acl: Acl[] = [];
  for (let i = 0; i < n; i++) acl.push({ perms: r.u32() | 0, scheme: r.stringUvarint(), id: r.stringUvarint() });
  return acl;
}

function readOp(r: ByteReader, dataBytesMax: number): WriteOp {
  const kind = r.u8();
  switch (kind) {
    case OP.create: {
      const p = path(r);
      const d = data(r, dataBytesMax);
      const acl = readAcl(r);
      const mode = r.varint();
      const ttlMs = r.uvarint() - 1;
      return { op: 'create', path: p, data: d, acl, mode, ttlMs };
    }
    case OP.delete:
      return { op: 'delete', path: path(r), version: version(r) };
    case OP.setData: {
      const p = path(r);
      return { op: 'setData', path: p, data: data(r, dataBytesMax), version: version(r) };
    }
    case OP.check:
      return { op: 'check', path: path(r), version: version(r) };
    case OP.setACL: {
      const p = path(r);
      return { op: 'setACL', path: p, acl: readAcl(r), version: version(r) };
    }
    case OP.fail: {
      const err = r.varint();
      if (err >= 0) bad(`fail op with err ${err}`, { err });
      return { op: 'fail', err: err as ZkErr };
    }
    default:
      return bad(`unknown op kind ${kind}`, { kind });
  }
}

/** Decodes a command; throws ProtocolError (never anything else) on malformed bytes. */
export function decodeCommand(bytes: Uint8Array, dataBytesMax: number = limits.coordZnodeDataBytesMax): CoordCommand {
  const r = new ByteReader(bytes);
  const v = r.u8();
  if (v !== COMMAND_VERSION && v !== COMMAND_VERSION_NO_OWNER) bad(`unknown version ${v}`, { version: v });
  const type = r.u8();
  let c: CoordCommand;
  switch (type) {
    case TYPE.createSession: {
      const timeoutMs = r.uvarint();
      const passwd = r.bytesUvarint().slice();
      if (passwd.length > PASSWD_BYTES_MAX) bad('password too long', { bytes: passwd.length });
      c = { type: 'createSession', timeoutMs, passwd, ...owner(r, v) };
      break;
    }
    case TYPE.setOwner: {
      if (v === COMMAND_VERSION_NO_OWNER) bad('setOwner in a v1 command');
      const sessionId = r.uvarint();
      c = { type: 'setOwner', sessionId, owner: r.uvarint() };
      break;
    }
    case TYPE.closeSession:
      c = { type: 'closeSession', sessionId: r.uvarint() };
      break;
    case TYPE.write: {
      const header = readHeader(r, v);
      c = { type: 'write', header, op: readOp(r, dataBytesMax) };
      break;
    }
    case TYPE.multi: {
      const header = readHeader(r, v);
      const n = count(r, limits.coordMultiOpsMax, 'multi ops');
      const ops: WriteOp[] = [];
      for (let i = 0; i < n; i++) ops.push(readOp(r, dataBytesMax));
      c = { type: 'multi', header, ops };
      break;
    }
    case TYPE.deleteContainer:
    case TYPE.deleteExpiredTtl: {
      const header = readHeader(r, v);
      c = { type: type === TYPE.deleteContainer ? 'deleteContainer' : 'deleteExpiredTtl', header, path: path(r) };
      break;
    }
    default:
      return bad(`unknown command type ${type}`, { type });
  }
  r.expectEnd('znode command');
  return c;
}

// --- results -------------------------------------------------------------------------------------

function writeStat(w: ByteWriter, s: Stat): void {
  w.uvarint(s.czxid).uvarint(s.mzxid).f64(s.ctime).f64(s.mtime);
  w.varint(s.version).varint(s.cversion).varint(s.aversion).i64(s.ephemeralOwner);
  w.uvarint(s.dataLength).uvarint(s.numChildren).uvarint(s.pzxid);
}

function readStat(r: ByteReader): Stat {
  return {
    czxid: r.uvarint(),
    mzxid: r.uvarint(),
    ctime: r.f64(),
    mtime: r.f64(),
    version: r.varint(),
    cversion: r.varint(),
    aversion: r.varint(),
    ephemeralOwner: r.i64(),
    dataLength: r.uvarint(),
    numChildren: r.uvarint(),
    pzxid: r.uvarint(),
  };
}

function writeOpResult(w: ByteWriter, o: OpResult): void {
  w.varint(o.err).u8((o.path !== undefined ? 1 : 0) | (o.stat !== undefined ? 2 : 0));
  if (o.path !== undefined) w.stringUvarint(o.path);
  if (o.stat !== undefined) writeStat(w, o.stat);
}

function readOpResult(r: ByteReader): OpResult {
  const err = r.varint() as ZkErr;
  const flags = r.u8();
  if (flags > 3) bad(`op result flags ${flags}`);
  const p = (flags & 1) !== 0 ? r.stringUvarint() : undefined;
  const stat = (flags & 2) !== 0 ? readStat(r) : undefined;
  return { err, ...(p !== undefined ? { path: p } : {}), ...(stat !== undefined ? { stat } : {}) };
}

export function encodeResult(res: CoordResult): Uint8Array {
  const w = new ByteWriter({ bytesMax: COMMAND_BYTES_MAX });
  w.u8(RESULT_VERSION).varint(res.err);
  if (res.sessionId !== undefined) w.u8(1).uvarint(res.sessionId);
  else if (res.op !== undefined) {
    w.u8(2);
    writeOpResult(w, res.op);
  } else if (res.results !== undefined) {
    w.u8(3).uvarint(res.results.length);
    for (const o of res.results) writeOpResult(w, o);
  } else w.u8(0);
  return w.finish().slice();
}

export function decodeResult(bytes: Uint8Array): CoordResult {
  const r = new ByteReader(bytes);
  const v = r.u8();
  if (v !== RESULT_VERSION) bad(`unknown result version ${v}`);
  const err = r.varint() as ZkErr;
  const kind = r.u8();
  let res: CoordResult;
  if (kind === 0) res = { err };
  else if (kind === 1) res = { err, sessionId: r.uvarint() };
  else if (kind === 2) res = { err, op: readOpResult(r) };
  else if (kind === 3) {
    const n = count(r, limits.coordMultiOpsMax, 'multi results');
    const results: OpResult[] = [];
    for (let i = 0; i < n; i++) results.push(readOpResult(r));
    res = { err, results };
  } else return bad(`unknown result kind ${kind}`);
  r.expectEnd('znode result');
  return res;
}
