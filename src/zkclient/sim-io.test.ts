// Goal: the ZooKeeper client runs inside the deterministic simulator (simZkIo: the simulator's client
// connections and virtual time, callWith with delivery 'sync'), the way the coordination workload
// will drive our service: against a toy ZooKeeper on two simulated nodes (one shared tree, watches
// per connection), the session survives the crash of the node it is connected to, its watch is
// re-registered on the other node (setWatches2) and fires there before the write's reply; the same
// seed gives the same trace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventType, KeeperState, OpCode, Xid, ZkErr } from '../coord/codes.ts';
import type { ClientConnection, Env } from '../env/types.ts';
import { Simulation } from '../sim/simulation.ts';
import {
  encodeConnectResponse,
  encodeNotification,
  encodeReply,
  type ResponseBody,
  type Stat,
  ZkRequestDecoder,
} from '../wire/zookeeper/index.ts';
import { ZkClient, zkCalls } from './client.ts';
import { simZkIo } from './sim-io.ts';

const bounds = {
  connectionsMax: 100,
  connectionsPerAddressMax: 100,
  bufferedBytesMax: 1024 * 1024,
  inflightRequestsMax: 64,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none' as const,
};

const stat = (version: number): Stat => ({
  czxid: 1n,
  mzxid: 1n,
  ctime: 0n,
  mtime: 0n,
  version,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0n,
  dataLength: 0,
  numChildren: 0,
  pzxid: 1n,
});

/** The toy service's state, shared by both nodes (a perfectly replicated tree). */
interface Toy {
  readonly nodes: Map<string, { data: Uint8Array; version: number }>;
  readonly watches: Array<{ conn: ClientConnection; path: string }>;
  zxid: bigint;
  sessions: number;
}

function serve(env: Env, toy: Toy): void {
  env.listen('zookeeper', { port: 2181, bounds }, (conn) => {
    const decoder = new ZkRequestDecoder();
    const reply = (xid: number, err: number, body: ResponseBody | null): void =>
      void conn.write(encodeReply({ xid, zxid: toy.zxid, err }, body));
    conn.onData((chunk) => {
      decoder.push(chunk);
      for (let r = decoder.next(); r !== undefined; r = decoder.next()) {
        if (r instanceof Error || r.kind === 'fourLetter' || r.kind === 'unknown' || r.kind === 'malformed') {
          conn.close();
          return;
        }
        if (r.kind === 'connect') {
          const sessionId = r.request.sessionId === 0n ? BigInt(++toy.sessions) : r.request.sessionId;
          conn.write(
            encodeConnectResponse({
              protocolVersion: 0,
              timeOutMs: r.request.timeOutMs,
              sessionId,
              passwd: new Uint8Array(16).fill(9),
              readOnly: r.request.readOnly,
            }),
          );
          continue;
        }
        const { xid, body } = r;
        switch (body.type) {
          case OpCode.ping:
            reply(Xid.ping, 0, { type: OpCode.ping });
            break;
          case OpCode.setWatches2:
            for (const path of body.dataWatches ?? []) toy.watches.push({ conn, path });
            reply(Xid.setWatches, 0, { type: OpCode.setWatches });
            break;
          case OpCode.create:
            toy.zxid++;
            toy.nodes.set(body.path!, { data: body.data ?? new Uint8Array(), version: 0 });
            reply(xid, 0, { type: OpCode.create, path: body.path });
            break;
          case OpCode.getData: {
            const n = toy.nodes.get(body.path!);
            if (n === undefined) {
              reply(xid, ZkErr.noNode, null);
              break;
            }
            if (body.watch) toy.watches.push({ conn, path: body.path! });
            reply(xid, 0, { type: OpCode.getData, data: n.data, stat: stat(n.version) });
            break;
          }
          case OpCode.setData: {
            const n = toy.nodes.get(body.path!)!;
            toy.zxid++;
            n.data = body.data ?? new Uint8Array();
            n.version++;
            for (const w of toy.watches.splice(0)) {
              if (w.path !== body.path || w.conn.closed) continue;
              w.conn.write(
                encodeNotification({ type: EventType.nodeDataChanged, state: KeeperState.syncConnected, path: w.path }),
              );
            }
            reply(xid, 0, { type: OpCode.setData, stat: stat(n.version) });
            break;
          }
          default:
            reply(xid, ZkErr.unimplemented, null);
        }
      }
    });
  });
}

function scenario(seed: string): { log: string[]; trace: string } {
  const toy: Toy = { nodes: new Map(), watches: [], zxid: 0n, sessions: 0 };
  const sim = new Simulation<Env>({
    seed,
    nodes: ['n1', 'n2'],
    clientLinks: { chunking: 'random', chunkBytesMax: 5 },
    program: (env) => {
      serve(env, toy);
      return env;
    },
  });
  const client = new ZkClient({
    connectString: ['n1', 'n2'],
    sessionTimeoutMs: 6000,
    delivery: 'sync',
    io: simZkIo(sim),
  });
  const log: string[] = [];
  const text = (b: Uint8Array): string => new TextDecoder().decode(b);
  client.callWith(zkCalls.create('/a', 'v0'), (e, path) => log.push(`create ${e ?? path}`));
  client.callWith(
    zkCalls.getData('/a', (ev) => log.push(`event ${ev.type} ${ev.path}`)),
    (e, got) => log.push(`get ${e ?? text(got!.data)}`),
  );
  assert.ok(
    sim.runUntilCondition(() => log.length === 2, 5_000),
    log.join('\n'),
  );
  const session = client.sessionId;
  log.push(`on ${client.connectedEndpoint}`);

  sim.crash('n1');
  assert.ok(
    sim.runUntilCondition(() => client.state === 'connected' && client.connectedEndpoint === 'n2', 5_000),
    `state ${client.state}`,
  );
  log.push(`on ${client.connectedEndpoint}, same session ${client.sessionId === session}`);
  client.callWith(zkCalls.setData('/a', 'v1'), (e, s) => log.push(`set ${e ?? s!.version}`));
  assert.ok(
    sim.runUntilCondition(() => log.length === 6, 5_000),
    log.join('\n'),
  );
  sim.runFor(10_000); // pings keep the connection up in virtual time
  log.push(`after 10 s: ${client.state} on ${client.connectedEndpoint}`);
  return { log, trace: sim.traceHash() };
}

test('in the simulator: the session moves to another node after a crash; its watch fires there first', () => {
  const a = scenario('zk-client-1');
  assert.deepEqual(a.log, [
    'create /a',
    'get v0',
    'on n1',
    'on n2, same session true',
    `event ${EventType.nodeDataChanged} /a`,
    'set 1',
    'after 10 s: connected on n2',
  ]);
  assert.deepEqual(scenario('zk-client-1'), a, 'the same seed replays the same run');
});
