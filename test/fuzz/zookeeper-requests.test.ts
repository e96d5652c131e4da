// Goal: no ZooKeeper client request crashes a node (the brief: bad input never crashes a node), the
// same lesson as redis-replicated-commands.test.ts for the coordination front end. On 3 simulated
// nodes, clients connect through the real front end and send requests of every opcode the codec
// decodes with hostile fields (malformed, reserved and oversized paths, null and big data, odd
// versions, flags and ACLs of unknown schemes, TTLs, watcher types, multi of those), and a share
// of them as raw frames whose body bytes are flipped, cut or padded. Every connection either
// answers or closes (ZooKeeper closes on what it cannot parse); the simulation must not throw (an
// exception in node code escapes the run loop and fails the test); afterwards every node still
// serves a new session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpCode, ZkErr } from '../../src/coord/codes.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { SimZkClient } from '../../src/services/coord/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { encodeRequest } from '../../src/wire/zookeeper/frame.ts';
import type { RequestBody } from '../../src/wire/zookeeper/requests.ts';
import { simServices } from '../support/sim-services.ts';

const NODES = ['n1', 'n2', 'n3'];
const REQUESTS_PER_SEED = 1_500;

const PATHS = [
  '/',
  '/a',
  '/a/b',
  '/a/b/c',
  '',
  'a',
  '//',
  '/a/',
  '/zookeeper',
  '/zookeeper/config',
  '/zookeeper/quota',
  '/.',
  '/..',
  '/a/../b',
  '/\u0000',
  `/${'x'.repeat(5_000)}`,
  '/a/b-0000000001',
  null,
];
const VERSIONS = [-1, 0, 1, 2, -2, 2147483647, -2147483648];
const FLAGS = [0, 1, 2, 3, 4, 5, 6, 7, -1, 99];
const ACLS = [
  [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
  [],
  null,
  [{ perms: 0, id: { scheme: 'digest', id: 'bad' } }],
  [{ perms: 31, id: { scheme: 'ip', id: '999.1.1.1/99' } }],
  [{ perms: 31, id: { scheme: 'nope', id: 'x' } }],
  [{ perms: 31, id: { scheme: 'auth', id: '' } }],
  [{ perms: -1, id: { scheme: 'world', id: 'anyone' } }],
];

function cluster(seed: string): Simulation<NodeServices> {
  return simServices({
    seed,
    nodes: NODES,
    clientLinks: { chunking: 'random', chunkBytesMax: 64 },
    coord: { tickTimeMs: 200, fourLetterWords: ['ruok'] },
  });
}

function connect(sim: Simulation<NodeServices>, node: string): SimZkClient | undefined {
  const c = new SimZkClient(sim, node);
  c.sendConnect({ timeOutMs: 10_000 });
  return sim.runUntilCondition(() => c.session() !== undefined || c.closed !== undefined, 10_000) &&
    c.session() !== undefined
    ? c
    : undefined;
}

function body(rng: SeededRng): RequestBody<bigint> {
  const path = rng.pick(PATHS);
  const data = rng.int(4) === 0 ? null : rng.bytes(rng.pick([0, 1, 100, 2_000]));
  const acl = rng.pick(ACLS);
  const version = rng.pick(VERSIONS);
  switch (rng.int(16)) {
    case 0:
      return {
        type: rng.pick([OpCode.create, OpCode.create2, OpCode.createContainer]),
        path,
        data,
        acl,
        flags: rng.pick(FLAGS),
      };
    case 1:
      return {
        type: OpCode.createTTL,
        path,
        data,
        acl,
        flags: rng.pick(FLAGS),
        ttl: rng.pick([0n, 1n, -1n, 1n << 62n]),
      };
    case 2:
      return { type: OpCode.delete, path, version };
    case 3:
      return {
        type: rng.pick([OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2]),
        path,
        watch: rng.int(2) === 0,
      };
    case 4:
      return { type: OpCode.setData, path, data, version };
    case 5:
      return { type: rng.pick([OpCode.getACL, OpCode.sync, OpCode.getAllChildrenNumber]), path };
    case 6:
      return { type: OpCode.setACL, path, acl, version };
    case 7:
      return { type: OpCode.check, path, version };
    case 8:
      return {
        type: rng.pick([OpCode.checkWatches, OpCode.removeWatches]),
        path,
        watcherType: rng.pick([0, 1, 2, 3, 4, 99]),
      };
    case 9:
      return { type: OpCode.addWatch, path, mode: rng.pick([0, 1, 2, 99]) };
    case 10:
      return { type: OpCode.getEphemerals, prefixPath: path };
    case 11:
      return {
        type: OpCode.auth,
        authType: 0,
        scheme: rng.pick(['digest', 'ip', 'super', 'nope', null]),
        auth: rng.int(3) === 0 ? null : rng.bytes(rng.int(40)),
      };
    case 12:
      return { type: OpCode.whoAmI };
    case 13:
      return {
        type: OpCode.setWatches2,
        relativeZxid: rng.pick([0n, 1n << 40n, -1n]),
        dataWatches: [rng.pick(['/a', '', '//'])],
        existWatches: null,
        childWatches: ['/'],
        persistentWatches: [],
        persistentRecursiveWatches: null,
      };
    case 14: {
      const ops = Array.from({ length: rng.int(4) }, () =>
        rng.pick<RequestBody<bigint>>([
          { type: OpCode.create, path: rng.pick(PATHS), data: null, acl: rng.pick(ACLS), flags: rng.pick(FLAGS) },
          { type: OpCode.delete, path: rng.pick(PATHS), version: rng.pick(VERSIONS) },
          { type: OpCode.setData, path: rng.pick(PATHS), data: null, version: rng.pick(VERSIONS) },
          { type: OpCode.check, path: rng.pick(PATHS), version: rng.pick(VERSIONS) },
        ]),
      );
      return { type: rng.int(2) === 0 ? OpCode.multi : OpCode.multiRead, ops } as unknown as RequestBody<bigint>;
    }
    default:
      return { type: OpCode.sync, path };
  }
}

/** A request frame's body bytes, flipped, cut or padded. */
function mangled(rng: SeededRng, frame: Uint8Array): { type: number; body: Uint8Array } {
  const type = new DataView(frame.buffer, frame.byteOffset).getInt32(8);
  let b = frame.slice(12);
  const r = rng.int(3);
  if (r === 0 && b.length > 0) b[rng.int(b.length)] = rng.pick([0x00, 0xff, 0x7f, 0x80, rng.int(256)]);
  else if (r === 1) b = b.slice(0, rng.int(b.length + 1));
  else b = Uint8Array.from([...b, ...rng.bytes(1 + rng.int(8))]);
  return { type: rng.int(10) === 0 ? rng.pick([-1, 0, 999, 0x7fffffff]) : type, body: b };
}

test('ZooKeeper front end: hostile requests of every opcode, valid and mangled, crash no node; every node serves after', () => {
  for (const seed of [1, 2]) {
    const sim = cluster(`fuzz-zk-${seed}`);
    const rng = new SeededRng(seed);
    assert.ok(
      sim.runUntilCondition(() => connect(sim, 'n1') !== undefined, 30_000),
      'the coordination service serves',
    );
    let client = connect(sim, rng.pick(NODES));
    let answered = 0;
    let closes = 0;
    for (let i = 0; i < REQUESTS_PER_SEED; i++) {
      if (client === undefined || client.closed !== undefined) {
        closes++;
        client = connect(sim, rng.pick(NODES));
        if (client === undefined) continue;
      }
      const b = body(rng);
      if (rng.int(4) === 0) {
        const m = mangled(rng, encodeRequest(1, b));
        client.sendRaw(m.type, m.body);
      } else {
        client.send(b);
      }
      if (i % 25 === 24) {
        sim.runFor(300);
        answered += client.stream.length;
      }
    }
    sim.runFor(2_000);
    assert.ok(answered > 0, 'requests were answered');
    for (const id of NODES) {
      const fresh = connect(sim, id);
      assert.ok(fresh !== undefined, `${id} still accepts sessions (after ${closes} closed connections)`);
      const xid = fresh.send({ type: OpCode.exists, path: '/', watch: false });
      assert.ok(
        sim.runUntilCondition(() => fresh.reply(xid) !== undefined, 10_000),
        `${id} answers`,
      );
      assert.equal(fresh.reply(xid)!.header.err, ZkErr.ok);
    }
  }
});
