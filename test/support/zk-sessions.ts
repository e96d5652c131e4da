// The scripted client sessions issue 9's acceptance runs against real ZooKeeper and against
// Baristas: one for Debian's zkCli.sh (two interactive sessions, A and B) and one for
// node-zookeeper-client (two clients). Each takes a connect string and a root path (everything the
// script creates lives under it, so runs do not see each other and need no fresh server) and
// returns normalised observations (see zk-observe.ts). The scripts never depend on timing: a
// notification is awaited (bounded) at the point it must have been sent, and reads that must see
// another client's write go through a write or `sync` of the reader's own first (ZooKeeper's
// per-session FIFO order, so a follower in an ensemble cannot answer from before the other write).

import { createHash } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import {
  compareObservations,
  hideRootAndPorts,
  markZkCliStep,
  normalise,
  type Observation,
  type RawStep,
  sessionMark,
  zxidMark,
} from './zk-observe.ts';
import { ZkCliSession } from './zkcli.ts';

const connectMsMax = 30_000;
const requestMsMax = 20_000;
const eventMsMax = 20_000;

/** ZooKeeper's digest id: user:base64(sha1("user:password")). */
export function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

/** A script's failure with what ran before it: the first thing to read when a server differs. */
function withTranscript(err: unknown, raw: readonly RawStep[], events: readonly string[]): Error {
  const steps = raw.map((s) => `${s.who}> ${s.command}\n    ${s.output.join('\n    ')}`).join('\n');
  return new Error(`${String(err)}\ntranscript so far:\n${steps}\nnotifications: ${events.join(' | ')}`, {
    cause: err,
  });
}

export interface ScriptRun {
  readonly observations: Observation[];
  /** Before normalisation (marked numbers and hidden root/ports are not applied yet for zkCli). */
  readonly raw: RawStep[];
}

/** The zkCli.sh script of issue 9's list; `root` is e.g. /zkh-1 (must not exist). */
export async function zkCliScript(connectString: string, root: string): Promise<ScriptRun> {
  const raw: RawStep[] = [];
  const opened = await Promise.allSettled([ZkCliSession.open(connectString), ZkCliSession.open(connectString)]);
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
    const [a, b] = sessions as [ZkCliSession, ZkCliSession];
    const run = async (who: 'A' | 'B', command: string): Promise<void> => {
      const s = who === 'A' ? a : b;
      raw.push({ who, command, output: await s.run(command) });
    };
    const awaitEvent = async (type: string, path: string): Promise<void> => {
      const e = await a.waitForEvent((x) => x.type === type && x.path === path, eventMsMax);
      raw.push({ who: 'A', command: `(await ${type} ${path})`, output: [e.line] });
    };
    const R = root;
    await run('A', `create ${R}`);
    await run('A', `create ${R}/p data1`);
    await run('A', `create ${R}/p again`); // error: NodeExists
    await run('A', `create -e ${R}/eph e`);
    await run('A', `create -s ${R}/p/seq- s`);
    await run('A', `create -s ${R}/p/seq- s`);
    await run('A', `create -s -e ${R}/es- x`);
    await run('A', `create -c ${R}/cont`);
    await run('A', `create ${R}/cont/child c`);
    await run('A', `create ${R}/eph/under x`); // error: ephemerals cannot have children
    await run('A', `ls ${R}`);
    await run('A', `ls -R ${R}`);
    await run('A', 'ls /zookeeper');
    await run('A', `get ${R}/p`);
    await run('A', `get -s ${R}/p`);
    await run('A', `get ${R}/missing`); // error: NoNode
    await run('A', `get -w ${R}/p`);
    await run('B', `set ${R}/p data2`);
    await awaitEvent('NodeDataChanged', `${R}/p`);
    await run('A', `ls -w ${R}/p`);
    await run('B', `create ${R}/p/kid k`);
    await awaitEvent('NodeChildrenChanged', `${R}/p`);
    await run('A', `set ${R}/p data3`);
    await run('A', `set -v 0 ${R}/p wrong`); // error: BadVersion
    await run('A', `set -v 2 ${R}/p data4`);
    await run('A', `stat ${R}/p`);
    await run('A', `stat ${R}/eph`);
    await run('A', `stat ${R}/cont`);
    await run('A', `delete ${R}/p`); // error: NotEmpty
    await run('A', `delete -v 7 ${R}/p/kid`); // error: BadVersion
    await run('A', `delete ${R}/p/kid`);
    await run('A', `getEphemerals ${R}`);
    await run('A', `sync ${R}`);
    await run('A', 'whoami');
    await run('A', `getAcl ${R}/p`);
    await run('A', `create ${R}/secure s`);
    await run('A', `setAcl ${R}/secure digest:${digestId('alice', 'secret')}:cdrwa`);
    await run('A', `getAcl ${R}/secure`); // error: NoAuth
    await run('A', `get ${R}/secure`); // error: NoAuth
    await run('B', `sync ${R}`);
    await run('B', 'addauth digest alice:secret');
    await run('B', 'whoami');
    await run('B', `getAcl -s ${R}/secure`);
    await run('B', `get ${R}/secure`);
    await run('B', `create ${R}/mine m`);
    await run('B', `setAcl ${R}/mine auth::rw`);
    await run('B', `getAcl ${R}/mine`);
    await run('A', `set ${R}/mine x`); // error: NoAuth
    await run('A', `ls ${R}/mine`); // error: NoAuth (READ is alice's only)
    await run('B', `delete ${R}/mine`);
    await run('B', `delete ${R}/secure`);
    await run('B', `create -e ${R}/b-eph b`);
    await run('B', `getEphemerals ${R}`);
    await b.close();
    await run('A', `sync ${R}`);
    await run('A', `ls ${R}`); // B's ephemeral went with B's session
    await run('A', `deleteall ${R}/p`);
    await run('A', `ls -R ${R}`);
    await run('A', `deleteall ${R}`);
    await run('A', `get ${R}`); // error: NoNode
    raw.push({
      who: 'A',
      command: '(all notifications)',
      output: a.events.filter((e) => e.type !== 'None').map((e) => e.line),
    });
  } catch (err) {
    throw withTranscript(err, raw, sessions[0]?.events.map((e) => e.line) ?? []);
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
  return { raw, observations: normalise(raw.map((s) => markZkCliStep(s, root))) };
}

// ---- node-zookeeper-client ----

// In node-zookeeper-client 1.1.3 but missing from its @types.
interface RemoveRecursive {
  removeRecursive(path: string, callback: (error: unknown) => void): void;
}

type Callback<T> = (error: unknown, value: T) => void;

function call<T>(f: (cb: Callback<T>) => void, what = 'request'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no reply within ${requestMsMax} ms`)), requestMsMax);
    f((error, value) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(value);
    });
  });
}

function connectClient(connectString: string): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 10_000, spinDelay: 100, retries: 2 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`node-zookeeper-client: not connected to ${connectString} within ${connectMsMax} ms`));
    }, connectMsMax);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

const int64 = (b: Buffer): bigint => b.readBigInt64BE(0);

function statView(s: zookeeper.Stat | null | undefined): unknown {
  if (s === null || s === undefined) return null;
  return {
    czxid: zxidMark(int64(s.czxid)),
    mzxid: zxidMark(int64(s.mzxid)),
    pzxid: zxidMark(int64(s.pzxid)),
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: sessionMark(int64(s.ephemeralOwner)),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

function errorView(err: unknown): string {
  if (err instanceof zookeeper.Exception) return `error ${err.getName()} (${err.getCode()})`;
  return `error ${String(err)}`;
}

function valueView(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `data:${v.toString('utf8')}`;
  if (Array.isArray(v)) return v.map(valueView);
  if (v !== null && typeof v === 'object') {
    if ('czxid' in v && 'ephemeralOwner' in v) return statView(v as zookeeper.Stat);
    // The library's ACL carries `permission` (its @types say `perms`).
    if (v instanceof zookeeper.ACL)
      return `${v.id.scheme}:${v.id.id}:${(v as unknown as { permission: number }).permission}`;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = valueView(x);
    return out;
  }
  return v;
}

/** The node-zookeeper-client script; `root` is e.g. /zkh-n1 (must not exist). */
export async function nodeClientScript(connectString: string, root: string): Promise<ScriptRun> {
  const raw: RawStep[] = [];
  const clients: zookeeper.Client[] = [];
  const events: string[] = [];
  try {
    const connected = await Promise.allSettled([connectClient(connectString), connectClient(connectString)]);
    for (const c of connected) if (c.status === 'fulfilled') clients.push(c.value);
    for (const c of connected) if (c.status === 'rejected') throw c.reason;
    const [a, b] = clients as [zookeeper.Client, zookeeper.Client];
    const sessionOf = new Map([
      ['A', a],
      ['B', b],
    ]);
    const step = async (who: 'A' | 'B', command: string, f: (c: zookeeper.Client) => Promise<unknown>) => {
      let output: string;
      try {
        output = JSON.stringify(valueView((await f(sessionOf.get(who)!)) ?? null));
      } catch (err) {
        // Only ZooKeeper's answers are observations; anything else is a harness or transport failure.
        if (!(err instanceof zookeeper.Exception)) throw err;
        output = errorView(err);
      }
      raw.push({ who, command, output: [output] });
    };
    const watcher = (e: zookeeper.Event): void => {
      events.push(`${e.getName()} ${e.getPath()}`);
    };
    const awaitEvent = async (expected: string): Promise<void> => {
      const deadline = Date.now() + eventMsMax;
      while (!events.includes(expected)) {
        if (Date.now() > deadline) throw new Error(`node-zookeeper-client: no "${expected}" within ${eventMsMax} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
      raw.push({ who: 'A', command: `(await ${expected})`, output: [expected] });
    };
    const { CreateMode, ACL, Id, Permission } = zookeeper;
    const R = root;
    const data = (s: string): Buffer => Buffer.from(s);
    await step('A', `create ${R}`, (c) => call((cb) => c.create(R, cb)));
    await step('A', `create ${R}/n v1`, (c) => call((cb) => c.create(`${R}/n`, data('v1'), cb)));
    await step('A', `create ${R}/n again`, (c) => call((cb) => c.create(`${R}/n`, data('again'), cb)));
    await step('A', `exists ${R}/n`, (c) => call((cb) => c.exists(`${R}/n`, cb)));
    await step('A', `exists ${R}/missing`, (c) => call((cb) => c.exists(`${R}/missing`, cb)));
    await step('A', `getData ${R}/n`, (c) => call((cb) => c.getData(`${R}/n`, (e, d, s) => cb(e, [d, s]))));
    await step('A', `getData ${R}/missing`, (c) => call((cb) => c.getData(`${R}/missing`, (e, d, s) => cb(e, [d, s]))));
    await step('A', `setData ${R}/n v2 version 0`, (c) => call((cb) => c.setData(`${R}/n`, data('v2'), 0, cb)));
    await step('A', `setData ${R}/n v3 version 5`, (c) => call((cb) => c.setData(`${R}/n`, data('v3'), 5, cb)));
    await step('A', `create ephemeral ${R}/e`, (c) => call((cb) => c.create(`${R}/e`, CreateMode.EPHEMERAL, cb)));
    await step('A', `create ${R}/e/child`, (c) => call((cb) => c.create(`${R}/e/child`, cb)));
    for (let i = 0; i < 2; i++) {
      await step('A', `create ephemeral_sequential ${R}/es-`, (c) =>
        call((cb) => c.create(`${R}/es-`, CreateMode.EPHEMERAL_SEQUENTIAL, cb)),
      );
    }
    await step('A', `create persistent_sequential ${R}/ps-`, (c) =>
      call((cb) => c.create(`${R}/ps-`, data('p'), CreateMode.PERSISTENT_SEQUENTIAL, cb)),
    );
    await step('A', `getChildren ${R}`, (c) =>
      call((cb) => c.getChildren(R, (e, kids, s) => cb(e, [[...(kids ?? [])].sort(), s]))),
    );
    await step('A', `exists ${R}/e (ephemeral stat)`, (c) => call((cb) => c.exists(`${R}/e`, cb)));
    // Watches: A registers, B changes, A's notification is awaited.
    await step('A', `getData+watch ${R}/n`, (c) => call((cb) => c.getData(`${R}/n`, watcher, (e, d) => cb(e, d))));
    await step('B', `setData ${R}/n v4`, (c) => call((cb) => c.setData(`${R}/n`, data('v4'), cb)));
    await awaitEvent(`NODE_DATA_CHANGED ${R}/n`);
    await step('A', `getChildren+watch ${R}`, (c) => call((cb) => c.getChildren(R, watcher, (e) => cb(e, null))));
    await step('B', `create ${R}/c`, (c) => call((cb) => c.create(`${R}/c`, cb)));
    await awaitEvent(`NODE_CHILDREN_CHANGED ${R}`);
    await step('A', `exists+watch ${R}/later`, (c) => call((cb) => c.exists(`${R}/later`, watcher, cb)));
    await step('B', `create ${R}/later`, (c) => call((cb) => c.create(`${R}/later`, cb)));
    await awaitEvent(`NODE_CREATED ${R}/later`);
    await step('A', `getData+watch ${R}/later`, (c) =>
      call((cb) => c.getData(`${R}/later`, watcher, (e) => cb(e, null))),
    );
    await step('B', `remove ${R}/later`, (c) => call((cb) => c.remove(`${R}/later`, (e) => cb(e, null))));
    await awaitEvent(`NODE_DELETED ${R}/later`);
    // multi: all or nothing, per-op results.
    await step('A', 'multi ok: create m1, setData n, check n, remove c', (c) =>
      call((cb) =>
        c
          .transaction()
          .create(`${R}/m1`, data('m'))
          .setData(`${R}/n`, data('v5'), 2)
          .check(`${R}/n`, 3)
          .remove(`${R}/c`)
          .commit(cb),
      ),
    );
    await step('A', 'multi failing: create m2, check n wrong version', (c) =>
      call((cb) =>
        c
          .transaction()
          .create(`${R}/m2`)
          .check(`${R}/n`, 99)
          .commit((e, results) => cb(null, { error: e ? errorView(e) : null, results })),
      ),
    );
    await step('A', `exists ${R}/m2 (multi was atomic)`, (c) => call((cb) => c.exists(`${R}/m2`, cb)));
    // ACLs and auth.
    const alice = [new ACL(Permission.ALL, new Id('digest', digestId('alice', 'secret')))];
    await step('A', `create ${R}/sec with digest ACL`, (c) => call((cb) => c.create(`${R}/sec`, data('s'), alice, cb)));
    await step('A', `getData ${R}/sec`, (c) => call((cb) => c.getData(`${R}/sec`, (e, d) => cb(e, d))));
    // B's own write, answered after A's create was, makes B's server have applied that create.
    await step('B', `create ${R}/b-seen`, (c) => call((cb) => c.create(`${R}/b-seen`, cb)));
    await step('B', `getACL ${R}/sec`, (c) => call((cb) => c.getACL(`${R}/sec`, (e, acl, s) => cb(e, [acl, s]))));
    await step('B', 'addAuthInfo digest alice:secret', async (c) => {
      c.addAuthInfo('digest', data('alice:secret'));
      return null;
    });
    await step('B', `getData ${R}/sec`, (c) => call((cb) => c.getData(`${R}/sec`, (e, d) => cb(e, d))));
    await step('B', `getACL ${R}/sec (authenticated)`, (c) =>
      call((cb) => c.getACL(`${R}/sec`, (e, acl, s) => cb(e, [acl, s]))),
    );
    const readOnly = [new ACL(Permission.READ, new Id('world', 'anyone'))];
    await step('A', `setACL ${R}/n world:anyone:r version 0`, (c) => call((cb) => c.setACL(`${R}/n`, readOnly, 0, cb)));
    await step('A', `setACL ${R}/sec version 0`, (c) => call((cb) => c.setACL(`${R}/sec`, readOnly, 0, cb)));
    await step('A', `setData ${R}/n`, (c) => call((cb) => c.setData(`${R}/n`, data('no'), cb)));
    await step('A', `getACL ${R}/n`, (c) => call((cb) => c.getACL(`${R}/n`, (e, acl, s) => cb(e, [acl, s]))));
    // Removal rules.
    await step('A', `remove ${R}/n version 9`, (c) => call((cb) => c.remove(`${R}/n`, 9, (e) => cb(e, null))));
    await step('A', `remove ${R}`, (c) => call((cb) => c.remove(R, (e) => cb(e, null))));
    await step('B', `create ephemeral ${R}/b-eph`, (c) =>
      call((cb) => c.create(`${R}/b-eph`, CreateMode.EPHEMERAL, cb)),
    );
    // close() sends closeSession; the server answers and drops the connection (bounded wait).
    await call<null>((cb) => {
      b.once('disconnected', () => cb(null, null));
      b.close();
    }, 'close B');
    await step('A', `create ${R}/after-b`, (c) => call((cb) => c.create(`${R}/after-b`, cb)));
    await step('A', `getChildren ${R} (B's ephemeral gone)`, (c) =>
      call((cb) => c.getChildren(R, (e, kids) => cb(e, [...(kids ?? [])].sort()))),
    );
    await step('A', `removeRecursive ${R}`, (c) =>
      call((cb) => (c as unknown as RemoveRecursive).removeRecursive(R, (e) => cb(e, null))),
    );
    await step('A', `exists ${R}`, (c) => call((cb) => c.exists(R, cb)));
    raw.push({ who: 'A', command: '(all notifications)', output: events });
  } catch (err) {
    throw withTranscript(err, raw, events);
  } finally {
    for (const c of clients) c.close();
  }
  const hidden = raw.map((s) => ({
    who: s.who,
    command: hideRootAndPorts(s.command, root),
    output: s.output.map((l) => hideRootAndPorts(l, root)),
  }));
  return { raw, observations: normalise(hidden) };
}

/** Both scripts' observations of one server (or cluster). */
export interface ServerObservations {
  readonly zkCli: readonly Observation[];
  readonly nodeClient: readonly Observation[];
}

/** Runs both scripts against `connectString`, under roots /zkh-cli-<tag> and /zkh-node-<tag>. */
export async function observeServer(connectString: string, tag: string): Promise<ServerObservations> {
  const zkCli = (await zkCliScript(connectString, `/zkh-cli-${tag}`)).observations;
  const nodeClient = (await nodeClientScript(connectString, `/zkh-node-${tag}`)).observations;
  return { zkCli, nodeClient };
}

/** undefined when both scripts observed the same on both servers; else the first difference. */
export function compareServers(
  reference: ServerObservations,
  candidate: ServerObservations,
  names: readonly [string, string],
): string | undefined {
  const cli = compareObservations(reference.zkCli, candidate.zkCli, names);
  if (cli !== undefined) return `zkCli.sh script: ${cli}`;
  const node = compareObservations(reference.nodeClient, candidate.nodeClient, names);
  return node === undefined ? undefined : `node-zookeeper-client script: ${node}`;
}
