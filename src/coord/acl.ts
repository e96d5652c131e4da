// ACLs, as ZooKeeper 3.8 checks them: schemes world, auth, digest, ip (and the `super` identity).
//
//  - An ACL entry is {perms, scheme, id}; perms are ZooDefs.Perms bits. ACLs are per node, never
//    inherited.
//  - fixupAcl (PrepRequestProcessor.fixupACL) runs at create and setACL time: duplicates removed
//    (first kept), `world:anyone` kept, `auth` expanded to every authenticated identity of the
//    caller (digest identities: ip is not an "authenticated" provider in ZooKeeper), INVALIDACL
//    when an `auth` entry finds none, when the list is empty, or when an id is not valid for its
//    scheme (digest: `user:hash`, exactly two parts as Java's split(":") counts them; ip: an IPv4
//    address with an optional /bits up to 32; world: only `anyone`).
//  - checkAcl (ZooKeeperServer.checkACL): an empty ACL allows everything; a caller holding a
//    `super` identity is allowed everything; otherwise some entry with one of the wanted bits must
//    be world:anyone or match one of the caller's identities of its scheme (digest: equal; ip:
//    the caller's address within the entry's masked prefix).
//  - AclCache interns ACL lists (ReferenceCountedACLCache): nodes hold a small number, a list is
//    stored once however many nodes use it.

import { assert } from '../lib/assert.ts';
import { utf8ByteLength } from '../lib/bytes.ts';
import { limits } from '../lib/limits.ts';
import { Perm } from './codes.ts';

export interface Id {
  readonly scheme: string;
  readonly id: string;
}

export interface Acl extends Id {
  readonly perms: number;
}

/** world:anyone with every permission (ZooDefs.Ids.OPEN_ACL_UNSAFE). */
export const OPEN_ACL_UNSAFE: readonly Acl[] = [{ perms: Perm.all, scheme: 'world', id: 'anyone' }];
/** world:anyone read-only (ZooDefs.Ids.READ_ACL_UNSAFE), the ACL of /zookeeper/config. */
export const READ_ACL_UNSAFE: readonly Acl[] = [{ perms: Perm.read, scheme: 'world', id: 'anyone' }];

/** The bytes of a dotted IPv4 address, or undefined. */
function ipv4(addr: string): number[] | undefined {
  const parts = addr.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function validIpAclId(id: string): boolean {
  const slash = id.indexOf('/');
  const addr = ipv4(slash < 0 ? id : id.slice(0, slash));
  if (addr === undefined) return false;
  if (slash < 0) return true;
  const bits = id.slice(slash + 1);
  if (!/^[+-]?\d{1,10}$/.test(bits)) return false;
  const n = Number(bits);
  return n >= 0 && n <= 32;
}

/** Java's `s.split(":").length == 2` (trailing empty parts dropped). */
function validDigestAclId(id: string): boolean {
  const parts = id.split(':');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.length === 2;
}

function validAclId(a: Acl): boolean {
  switch (a.scheme) {
    case 'world':
      return a.id === 'anyone';
    case 'digest':
      return validDigestAclId(a.id);
    case 'ip':
      return validIpAclId(a.id);
    default:
      return false; // no such authentication provider here (sasl, x509 are not offered)
  }
}

/** The ACL a create/setACL stores, or undefined for INVALIDACL. */
export function fixupAcl(acl: readonly Acl[], identities: readonly Id[]): Acl[] | undefined {
  const unique: Acl[] = [];
  for (const a of acl) {
    if (!unique.some((u) => u.perms === a.perms && u.scheme === a.scheme && u.id === a.id)) unique.push(a);
  }
  if (unique.length === 0) return undefined;
  const out: Acl[] = [];
  for (const a of unique) {
    if (a.scheme === 'auth') {
      const authenticated = identities.filter((i) => i.scheme === 'digest' || i.scheme === 'super');
      if (authenticated.length === 0) return undefined;
      for (const i of authenticated) out.push({ perms: a.perms, scheme: i.scheme, id: i.id });
    } else if (validAclId(a)) {
      out.push(a);
    } else {
      return undefined;
    }
  }
  // `auth` entries expand into every identity of the caller: the list stored stays within the
  // bound every list is held to (the snapshot loader refuses more: a node would refuse its own
  // snapshot; an audit, 2026-12-07).
  if (out.length > limits.coordAclEntriesMax) return undefined;
  return out;
}

function ipMatches(callerIp: string, aclId: string): boolean {
  const slash = aclId.indexOf('/');
  const want = ipv4(slash < 0 ? aclId : aclId.slice(0, slash));
  const have = ipv4(callerIp);
  if (want === undefined || have === undefined) return false;
  const bits = slash < 0 ? 32 : Number(aclId.slice(slash + 1));
  if (!(bits >= 0 && bits <= 32)) return false;
  for (let i = 0; i < 4; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - take)) & 0xff;
    if ((want[i]! & mask) !== (have[i]! & mask)) return false;
  }
  return true;
}

/** True when `identities` may do `perm` on a node with `acl`. */
export function checkAcl(acl: readonly Acl[], perm: number, identities: readonly Id[], superDigest?: string): boolean {
  if (acl.length === 0) return true;
  for (const i of identities) {
    if (i.scheme === 'super') return true;
    if (superDigest !== undefined && i.scheme === 'digest' && i.id === superDigest) return true;
  }
  for (const a of acl) {
    if ((a.perms & perm) === 0) continue;
    if (a.scheme === 'world' && a.id === 'anyone') return true;
    for (const i of identities) {
      if (i.scheme !== a.scheme) continue;
      if (a.scheme === 'ip' ? ipMatches(i.id, a.id) : i.id === a.id) return true;
    }
  }
  return false;
}

/** The interning key of an ACL list (computed once by a caller that both checks and interns). */
export function aclKey(acl: readonly Acl[]): string {
  return acl.map((a) => `${a.perms}\u0000${a.scheme}\u0000${a.id}`).join('\u0001');
}

/**
 * What an ACL list counts toward the tree's bytes (tree.ts TreeOptions.bytesMax): at least its
 * bytes in a snapshot section (command.ts's Acl: a count, then per entry a u32 and two
 * length-prefixed UTF-8 strings), plus its table entry's number.
 */
export function aclListBytes(acl: readonly Acl[]): number {
  let n = 8;
  for (const a of acl) n += 4 + 8 + utf8ByteLength(a.scheme) + utf8ByteLength(a.id);
  return n;
}

/**
 * Interned ACL lists with reference counts: a node holds the list's number. Number 0 is
 * OPEN_ACL_UNSAFE and is never released (it is the ACL of the root and of most trees).
 * `bytes` sums aclListBytes over the lists some node holds, changed when a count leaves or
 * reaches 0 (not when a number is freed, which a frozen view defers on this replica only), so it
 * is the same on every replica at every index.
 */
export class AclCache {
  private readonly lists: (readonly Acl[] | undefined)[] = [OPEN_ACL_UNSAFE];
  private readonly refs: number[] = [1];
  private readonly byKey = new Map<string, number>([[aclKey(OPEN_ACL_UNSAFE), 0]]);
  private readonly free: number[] = [];
  /** While frozen (a snapshot walk reads numbers taken at its start), numbers whose count fell to 0; freed at thaw. */
  private deferred: number[] | undefined;
  private heldBytes = 0;

  /** Σ aclListBytes over the lists held by some node (number 0 left out: it is always held). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** What interning `acl` would add to `bytes`: 0 when a node holds it already. */
  bytesToIntern(acl: readonly Acl[], key: string = aclKey(acl)): number {
    const known = this.byKey.get(key);
    return known !== undefined && this.refs[known]! > 0 ? 0 : aclListBytes(acl);
  }

  /** Takes a reference to `acl`'s list and returns its number. */
  intern(acl: readonly Acl[], key: string = aclKey(acl)): number {
    const known = this.byKey.get(key);
    if (known !== undefined) {
      // A list whose count fell to 0 while frozen is still known here (and not on a replica that
      // was not frozen): held again, it counts again.
      if (this.refs[known]!++ === 0 && known !== 0) this.heldBytes += aclListBytes(acl);
      return known;
    }
    const ref = this.free.pop() ?? this.lists.length;
    this.lists[ref] = acl.map((a) => ({ perms: a.perms, scheme: a.scheme, id: a.id }));
    this.refs[ref] = 1;
    this.byKey.set(key, ref);
    this.heldBytes += aclListBytes(acl);
    return ref;
  }

  release(ref: number): void {
    if (ref === 0) return;
    const left = --this.refs[ref]!;
    if (left > 0) return;
    this.heldBytes -= aclListBytes(this.lists[ref]!);
    if (this.deferred !== undefined) {
      this.deferred.push(ref);
      return;
    }
    this.drop(ref);
  }

  /** No number is freed (nor reused for another list) until thaw: a frozen view's numbers stay valid. */
  freeze(): void {
    this.deferred ??= [];
  }

  thaw(): void {
    const deferred = this.deferred ?? [];
    this.deferred = undefined;
    for (const ref of deferred) if (this.refs[ref] === 0 && this.lists[ref] !== undefined) this.drop(ref);
  }

  private drop(ref: number): void {
    this.byKey.delete(aclKey(this.lists[ref]!));
    this.lists[ref] = undefined;
    this.free.push(ref);
  }

  get(ref: number): readonly Acl[] {
    const acl = this.lists[ref];
    assert(acl !== undefined, `ACL ${ref} is not interned`);
    return acl;
  }

  /** Distinct lists held. */
  get size(): number {
    return this.byKey.size;
  }
}
