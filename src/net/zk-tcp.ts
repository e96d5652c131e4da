// The real world for our ZooKeeper client (src/zkclient): node:net sockets as ZkByteStreams and
// the process's clock and timers (src/env/real-time.ts). src/zkclient itself is pure (the purity
// test scans it); the simulator hands the client its own streams and time (src/zkclient/sim-io.ts).

import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { realClock, realTimers } from '../env/real-time.ts';
import { parseEndpoint } from '../lib/endpoint.ts';
import { SeededRng } from '../lib/rng.ts';
import {
  parseConnectString,
  ZkClient,
  type ZkByteStream,
  type ZkClientIo,
  type ZkClientOptions,
} from '../zkclient/client.ts';

/**
 * 'host:port' ('[v6]:port', checked by connectZk before the client is built) -> a TCP
 * stream; connect errors arrive as onClose('error: ...').
 */
export function tcpStream(endpoint: string): ZkByteStream {
  const socket = netConnect(parseEndpoint(endpoint, 'connectString'));
  socket.setNoDelay(true);
  let closeReason = 'remote';
  socket.on('error', (e: NodeJS.ErrnoException) => {
    closeReason = `error: ${e.code ?? e.message}`;
  });
  return {
    onOpen: (handler) => {
      socket.once('connect', handler);
    },
    onData: (handler) => {
      socket.on('data', (chunk: Buffer) => handler(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
    },
    onClose: (handler) => {
      socket.once('close', () => handler(closeReason));
    },
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    close: () => {
      closeReason = 'local';
      socket.destroy();
    },
  };
}

/** The process's clock, timers and sockets; a fresh random stream (first endpoint, reconnect jitter). */
export function tcpIo(): ZkClientIo {
  return {
    clock: realClock,
    timers: realTimers,
    connect: tcpStream,
    rng: new SeededRng(randomBytes(16).toString('hex')),
  };
}

/**
 * A client over TCP with the process's clock and timers. `io` replaces them (a test that must know
 * which endpoint is tried first passes an io without an rng: the connect string in order, no jitter).
 */
export function connectZk(options: Omit<ZkClientOptions, 'io'>, io: ZkClientIo = tcpIo()): ZkClient {
  // Each endpoint checked now (a ConfigError to the caller), not by a socket call that would
  // throw inside the client's reconnect timer (`barista zk --server h:99999` crashed).
  for (const e of parseConnectString(options.connectString)) parseEndpoint(e, 'connectString');
  return new ZkClient({ ...options, io });
}
