// The benchmark tree shared by coord-memory and coord-snapshot: N znodes of --data-bytes under
// /bench/pNNNN/ (--fanout children per parent), persistent, open ACL, built through the tree's own
// write path (zxid, time, ACL and Stat as a client's create would set them).
import { OPEN_ACL_UNSAFE } from '../src/coord/acl.ts';
import { CreateMode } from '../src/coord/codes.ts';
import type { ZnodeTree } from '../src/coord/tree.ts';

export interface Shape {
  readonly znodes: number;
  readonly dataBytes: number;
  readonly fanout: number;
}

/** parseArgs options for the shape (defaults: 1,000,000 znodes of 100 B, 1,000 per parent). */
export const shapeOptions = {
  znodes: { type: 'string', default: '1000000' },
  'data-bytes': { type: 'string', default: '100' },
  fanout: { type: 'string', default: '1000' },
} as const;

export const shapeOf = (v: { znodes: string; 'data-bytes': string; fanout: string }): Shape => ({
  znodes: Number(v.znodes),
  dataBytes: Number(v['data-bytes']),
  fanout: Number(v.fanout),
});

export const parentPath = (p: number): string => `/bench/p${String(p).padStart(4, '0')}`;
export const childPath = (s: Shape, i: number): string =>
  `${parentPath(Math.floor(i / s.fanout))}/n${String(i).padStart(8, '0')}`;
export const childData = (s: Shape, i: number): Uint8Array => new Uint8Array(s.dataBytes).fill(97 + (i % 26));
/** Every znode the bench creates: /bench, the parents, the children. */
export const created = (s: Shape): number => 1 + Math.ceil(s.znodes / s.fanout) + s.znodes;

/** Builds the shape into `tree` with zxids from 1; returns the last zxid. */
export function buildTree(tree: ZnodeTree, s: Shape): number {
  const caller = { sessionId: 0, identities: [] };
  let zxid = 0;
  const create = (path: string, data: Uint8Array): void => {
    const r = tree.write(
      { zxid: ++zxid, timeMs: 1_764_000_000_000 + zxid, caller },
      { op: 'create', path, data, acl: OPEN_ACL_UNSAFE, mode: CreateMode.persistent, ttlMs: -1 },
    );
    if (r.err !== 0) throw new Error(`create ${path}: ${r.err}`);
  };
  create('/bench', new Uint8Array(0));
  for (let p = 0; p < Math.ceil(s.znodes / s.fanout); p++) create(parentPath(p), new Uint8Array(0));
  for (let i = 0; i < s.znodes; i++) create(childPath(s, i), childData(s, i));
  return zxid;
}
