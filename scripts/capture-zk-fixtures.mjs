#!/usr/bin/env node
// Captures golden ZooKeeper client-protocol bytes from the real clients against the real server:
// starts a standalone Debian ZooKeeper 3.8 in a temp dir on a free loopback port, puts a TCP relay
// in front of it, drives node-zookeeper-client, one interactive zkCli.sh session, a four-letter
// word and a raw connection sending an unknown opcode through the relay, and writes what crossed
// the relay, frame by frame, to test/fixtures/zookeeper/<name>.json:
//   { name, about, requests: [hex of one frame, length prefix included], replies: [...] }
// (concatenated, each direction's frames are exactly the bytes that crossed; a 4lw connection's
// "frames" are its raw bytes). src/wire/zookeeper/golden.test.ts decodes and re-encodes them.
//
// Usage: node scripts/capture-zk-fixtures.mjs   (needs java, /usr/share/java/zookeeper.jar)
// Not part of `npm test`: the fixtures are committed; rerun this to re-capture them.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep, until } from './_capture-lib.mjs';

const require = createRequire(import.meta.url);
const zookeeper = require('node-zookeeper-client');

const OUT = new URL('../test/fixtures/zookeeper/', import.meta.url).pathname;
const CP = '/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar';
const ZKCLI = '/usr/share/zookeeper/bin/zkCli.sh';

function fourLetter(port, word) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(word));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(''));
  });
}

/** A relay that records every connection's bytes in both directions, in order. */
function startRelay(targetPort) {
  const conns = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    // drop(): cut the connection as a network fault would (the client reconnects).
    const rec = { up: [], down: [], closed: false, drop: () => client.destroy() };
    conns.push(rec);
    client.on('data', (d) => {
      rec.up.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      rec.down.push(Buffer.from(d));
      client.write(d);
    });
    const done = () => {
      rec.closed = true;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
    client.on('error', done);
    upstream.on('error', done);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, conns, port: server.address().port }));
  });
}

/** Splits a byte stream into length-prefixed frames (the prefix kept); a ragged tail is kept as is. */
function frames(chunks) {
  const all = Buffer.concat(chunks);
  const out = [];
  let at = 0;
  while (at + 4 <= all.length) {
    const len = all.readInt32BE(at);
    if (len < 0 || at + 4 + len > all.length) break;
    out.push(all.subarray(at, at + 4 + len).toString('hex'));
    at += 4 + len;
  }
  if (at < all.length) out.push(all.subarray(at).toString('hex'));
  return out;
}

/** Saves the busiest connection opened since `from` (a client may retry while the server starts). */
function save(name, about, conns, from, raw = false) {
  const size = (c) => c.up.reduce((n, b) => n + b.length, 0) + c.down.reduce((n, b) => n + b.length, 0);
  const rec = conns.slice(from).reduce((a, b) => (size(b) > size(a) ? b : a));
  const toHex = (chunks) => (raw ? [Buffer.concat(chunks).toString('hex')] : frames(chunks));
  const doc = { name, about, requests: toHex(rec.up), replies: toHex(rec.down) };
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`${name}: ${doc.requests.length} request frames, ${doc.replies.length} reply frames`);
}

const p = (fn) => new Promise((resolve) => fn((err, ...rest) => resolve({ err, rest })));

async function nodeClientSession(port, conns) {
  const client = zookeeper.createClient(`127.0.0.1:${port}`, { sessionTimeout: 10_000, retries: 0 });
  const connected = new Promise((r) => client.once('connected', r));
  client.connect();
  await connected;
  console.log('node client connected');
  await p((cb) => client.create('/nzk', Buffer.from('hello'), cb));
  await p((cb) =>
    client.create(
      '/nzk/eph-',
      Buffer.from('e'),
      zookeeper.ACL.OPEN_ACL_UNSAFE,
      zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
      cb,
    ),
  );
  await p((cb) => client.create('/nzk', cb)); // NodeExists
  // A data watch that fires on the setData below.
  const fired = new Promise((r) =>
    client.getData(
      '/nzk',
      () => r(),
      () => {},
    ),
  );
  await p((cb) => client.setData('/nzk', Buffer.from('world'), -1, cb));
  await fired;
  await p((cb) => client.exists('/nzk', cb));
  await p((cb) => client.exists('/absent', cb)); // NoNode, no body
  await p((cb) => client.getChildren('/nzk', () => {}, cb)); // getChildren2 with a child watch
  await p((cb) => client.getACL('/nzk', cb));
  await p((cb) => client.setACL('/nzk', zookeeper.ACL.OPEN_ACL_UNSAFE, -1, cb));
  client.addAuthInfo('digest', Buffer.from('user:secret')); // no callback: the reply is only checked for failure
  await p((cb) =>
    client
      .transaction()
      .create('/nzk/t', Buffer.from('t'))
      .setData('/nzk/t', Buffer.from('u'), -1)
      .check('/nzk/t', 1)
      .remove('/nzk/t', -1)
      .commit(cb),
  );
  await p((cb) => client.transaction().check('/nzk', 999).create('/nzk/never').commit(cb)); // fails: per-op errors
  await p((cb) => client.getData('/absent', cb));
  await p((cb) => client.remove('/nzk', 99, cb)); // BadVersion
  // Cut the connection with watches set: the client reconnects with its session id and password
  // and re-registers them with SetWatches (xid -8): captured as node-client-reconnect.
  await p((cb) => client.exists('/nzk/later', () => {}, cb));
  await p((cb) => client.getData('/nzk', () => {}, cb));
  const before = conns.length;
  const reconnected = new Promise((r) => client.once('connected', r));
  conns[before - 1].drop();
  await reconnected;
  await p((cb) => client.getData('/nzk', cb));
  await sleep(200);
  client.close();
  await sleep(500);
}

async function zkCliSession(port) {
  const lines = [
    'create /zc "one"',
    'create -e /zc/eph "e"',
    'create -s /zc/seq- "s"',
    'create -c /cont',
    'create -t 5000 /ttl "t"',
    'get -s /zc',
    'get -w /zc',
    'set /zc "two"',
    'set -v 99 /zc "three"',
    'ls /',
    'ls -s /zc',
    'ls -R /zc',
    'stat /zc',
    'getAcl /zc',
    'setAcl /zc world:anyone:cdrwa',
    'addauth digest user:secret',
    'whoami',
    'getEphemerals',
    'getAllChildrenNumber /zc',
    'sync /zc',
    'config',
    'addWatch -m PERSISTENT_RECURSIVE /zc',
    'removewatches /zc',
    'delete /cont',
    'deleteall /zc',
    'get /zc',
    'quit',
  ];
  const child = spawn(ZKCLI, ['-waitforconnection', '-server', `127.0.0.1:${port}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.on('exit', r));
  await until('zkCli to connect', () => /SyncConnected|WATCHER::/.test(out), 60_000);
  for (const line of lines) {
    child.stdin.write(`${line}\n`);
    await sleep(250);
  }
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
  writeFileSync(join(tmpdir(), 'zkcli-capture.log'), out);
}

/** A hand-made connection: connect (no readOnly byte), one request of an unknown type, and a ping. */
async function rawUnknownOpcode(port) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const connect = Buffer.alloc(4 + 44);
  connect.writeInt32BE(44, 0); // protocolVersion 0, lastZxid 0, timeout, session 0, passwd 16 zero bytes
  connect.writeInt32BE(10_000, 16);
  connect.writeInt32BE(16, 28);
  s.write(connect);
  await sleep(300);
  const req = Buffer.alloc(12);
  req.writeInt32BE(8, 0);
  req.writeInt32BE(1, 4);
  req.writeInt32BE(999, 8);
  s.write(req);
  await sleep(500);
  s.destroy();
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'zk-capture-'));
  const zkPort = await freePort();
  writeFileSync(
    join(dir, 'zoo.cfg'),
    [
      'tickTime=2000',
      `dataDir=${dir}/data`,
      `clientPort=${zkPort}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      '',
    ].join('\n'),
  );
  const zk = spawn(
    'java',
    ['-Xmx256m', '-cp', CP, 'org.apache.zookeeper.server.ZooKeeperServerMain', join(dir, 'zoo.cfg')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let zkLog = '';
  zk.stderr.on('data', (d) => (zkLog += d));
  try {
    console.log('starting ZooKeeper on', zkPort);
    await until('ZooKeeper to start', async () => /Mode: standalone/.test(await fourLetter(zkPort, 'srvr')), 60_000);
    const relay = await startRelay(zkPort);
    const conns = relay.conns;

    console.log('ZooKeeper up');
    let n = conns.length;
    await nodeClientSession(relay.port, conns);
    const reconnect = conns.length - 1;
    save(
      'node-client-reconnect',
      'node-zookeeper-client 1.1.3 reconnecting after its connection was cut: ConnectRequest with the session id and password, SetWatches re-registering a data and an exist watch, getData, close',
      conns,
      reconnect,
    );
    conns.length = reconnect;
    save(
      'node-client-session',
      'node-zookeeper-client 1.1.3: connect (no readOnly byte), create, ephemeral sequential, NodeExists, watch + setData notification, exists (found, NoNode), getChildren2, getACL, setACL, addAuth digest, multi ok, multi failing, getData NoNode, delete BadVersion, exists and data watches, then the connection is cut',
      conns,
      n,
    );

    n = conns.length;
    await zkCliSession(relay.port);
    save(
      'zkcli-session',
      'zkCli.sh 3.8.0 interactive: connect (readOnly byte), create/-e/-s/-c/-t, get -s/-w, set (watch fires), set -v, ls/-s/-R, stat, getAcl, setAcl, addauth, whoami, getEphemerals, getAllChildrenNumber, sync, config, addWatch, removewatches, delete, deleteall, quit',
      conns,
      n,
    );

    n = conns.length;
    await fourLetter(relay.port, 'ruok');
    await sleep(200);
    save('four-letter-ruok', 'a ruok four-letter word and its imok answer, raw bytes', conns, n, true);

    n = conns.length;
    await rawUnknownOpcode(relay.port);
    save(
      'unknown-opcode',
      'hand-made: connect without readOnly byte, then type 999: ZooKeeper answers UNIMPLEMENTED (-6) and closes the session',
      conns,
      n,
    );
    relay.server.close();
  } catch (e) {
    console.error(zkLog.slice(-4000));
    throw e;
  } finally {
    zk.kill('SIGTERM');
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
