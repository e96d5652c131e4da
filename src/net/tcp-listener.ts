// TcpClientListeners: the real Env's `listen` (src/env/types.ts) — one TCP server per client
// protocol, each connection a net.Socket under the shared listener behaviour (src/env/listener-core.ts:
// admission, reading holds, eviction, idle timeout, metrics). The simulator's twin is
// src/sim/client-links.ts; test/compliance/listener-suite.ts runs against both.
//
// This is an I/O layer (node:net, real timers for the close linger), on purpose.
//
// How the bounds map onto sockets:
//   - a refused connection is accepted by the kernel (it completed the handshake) and destroyed at
//     once, before any byte is read: the client sees the connection close. Counted by reason.
//   - sockets start paused (pauseOnConnect) and read only while the core says so; a paused socket
//     stops reading from the kernel, whose receive window then closes on the client: TCP pushes
//     back, the client blocks in write, and nothing is answered with an error.
//   - bufferedBytes is the socket's writableLength: bytes Node holds that the kernel has not taken.
//     The kernel's own send buffer (some MB on loopback) is TCP's business, not counted.
//   - write() hands the caller's bytes to the socket as they are (ClientConnection.write: the caller
//     does not change them after; net.Socket keeps a reference until it writes them); the
//     socket is corked while a chunk is handled and stays corked until the loop's check phase
//     (setImmediate), as it is for a write outside a chunk (a reply that waited for peers): the
//     replies of one loop iteration leave in one writev per socket, every socket's back to back
//     (a client woken by the first is still awake for the next; written as each chunk ended,
//     between other chunks' handling, each reply paid the client's wake-up). A chunk that waited
//     for its port's turn is handled in the check phase already: its replies leave as it ends.
//   - every port of the process shares the one event loop fairly (src/net/port-turns.ts): a port
//     handles at most limits.clientPortTurnBytesMax received bytes per loop turn, the rest waits on
//     its connection (socket paused) for the next turn, so a flooded port cannot make another
//     port's clients wait behind megabytes of its requests;
//   - close() ends the socket after its queued bytes (FIN); if the client does not read them within
//     closeLingerMs the socket is destroyed, so a closed connection cannot hold memory for long.
//   - a client's FIN closes the connection (`remote`; our side ends after what is queued); a
//     socket error closes it as `reset`. Evictions, idle timeouts and a closing listener reset
//     the connection (RST), so the kernel frees what it buffered for the client at once.

import { createServer, type Server, type Socket } from 'node:net';
import { type CoreConnection, type ConnectionIo, ListenerCore } from '../env/listener-core.ts';
import type { ClientConnection, Clock, Listener, ListenOptions, Logger, Metrics, Timers } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { PortTurns, type TurnConnection, type TurnPort, type TurnSlot } from './port-turns.ts';

export interface TcpClientListenersOptions {
  /** Default bind address for `listen` when ListenOptions.host is not given. */
  readonly host: string;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Bytes per port per loop turn (default limits.clientPortTurnBytesMax; the bench compares). */
  readonly turnBytesMax?: number;
}

export const tcpListenerDefaults = {
  /** How long a locally closed socket may take to hand its last bytes to the client. */
  closeLingerMs: 5_000,
} as const;

export const ListenerErrorCode = {
  addressInUse: 'listen_address_in_use',
  listenFailed: 'listen_failed',
} as const;

/** Every client listener of one node process. */
export class TcpClientListeners {
  private readonly listeners = new Map<string, TcpListener>();
  /** The event loop's share per port (one PortTurns for every listener of the process). */
  readonly turns: PortTurns;

  constructor(private readonly options: TcpClientListenersOptions) {
    this.turns = new PortTurns(options.turnBytesMax ?? limits.clientPortTurnBytesMax, (fn) => setImmediate(fn));
  }

  /** The Env's `listen`. */
  listen(protocol: string, options: ListenOptions, handler: (connection: ClientConnection) => void): Listener {
    assert(!this.listeners.has(protocol), `a listener for '${protocol}' exists already`);
    const o = this.options;
    const core = new ListenerCore({
      protocol,
      bounds: options.bounds,
      clock: o.clock,
      timers: o.timers,
      metrics: o.metrics,
      log: o.log.child({ component: 'listener', protocol }),
      handler,
    });
    const port = this.turns.port(protocol);
    const listener = new TcpListener(core, options.host ?? o.host, options.port, this.turns, port, () => {
      this.listeners.delete(protocol);
      this.turns.dropPort(port);
    });
    this.listeners.set(protocol, listener);
    return listener;
  }

  /** Resolves once every listener opened so far is bound; rejects with the first bind error. */
  async ready(): Promise<void> {
    await Promise.all([...this.listeners.values()].map((l) => l.ready()));
  }

  /** Closes every listener (node stopping). */
  async close(): Promise<void> {
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
  }
}

class TcpListener implements Listener {
  private readonly server: Server;
  private readonly bound: Promise<number>;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly core: ListenerCore,
    host: string,
    port: number,
    private readonly turns: PortTurns,
    private readonly turnPort: TurnPort,
    private readonly forget: () => void,
  ) {
    this.server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
    this.bound = bindServer(this.server, host, port, `client listener '${core.protocol}'`);
    // A failed bind must not be an unhandled rejection when nobody awaits ready().
    this.bound.catch(() => undefined);
    this.bound.then(
      (p) => core.options.log.info({ host, port: p }, 'client listener listening'),
      () => undefined,
    );
    this.server.on('error', (err) => core.options.log.error({ err: String(err) }, 'client listener error'));
  }

  get protocol(): string {
    return this.core.protocol;
  }

  get connections(): number {
    return this.core.connections;
  }

  ready(): Promise<number> {
    return this.bound;
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.forget();
    this.core.close();
    const server = this.server;
    // A close() before the bind completed must still close the server once it is bound.
    this.closing = this.bound.then(
      () => new Promise<void>((resolve) => server.close(() => resolve())),
      () => undefined,
    );
    return this.closing;
  }

  private accept(socket: Socket): void {
    const remote = formatRemote(socket.remoteAddress, socket.remotePort);
    if (remote === undefined || this.core.admit(remote) !== undefined) {
      socket.destroy();
      return;
    }
    let conn: CoreConnection | null = null;
    const io = new SocketIo(socket, this.turns, this.turnPort, (chunk) => {
      // Replies written while a chunk is handled leave in one writev, at the loop's check phase
      // with the other sockets' (holdForTurn), not when the chunk ends.
      socket.cork();
      try {
        conn?.received(chunk);
      } finally {
        io.holdForTurn();
      }
    });
    socket.on('data', (chunk: Buffer) => io.received(chunk));
    socket.on('drain', () => conn?.drained());
    socket.on('end', () => conn?.ended('remote'));
    socket.on('error', (err) => this.core.options.log.debug({ remote, err: String(err) }, 'client connection error'));
    socket.once('close', (hadError) => {
      io.socketClosed();
      conn?.ended(hadError ? 'reset' : 'closed');
    });
    io.written = () => conn?.drained();
    conn = this.core.accept(io, remote);
  }
}

/** A net.Socket as a ConnectionIo, its reads taking turns with the other ports' (PortTurns). */
class SocketIo implements ConnectionIo, TurnConnection {
  /** Called after a write completes (to deliver a drain the core is waiting for). */
  written: () => void = () => undefined;
  private linger: NodeJS.Timeout | null = null;
  // Each completed write: the listener recounts what the socket still holds (its memory bound),
  // and delivers a drain it owes once that is 0.
  private readonly afterWrite = (): void => {
    this.written();
  };
  private readonly slot: TurnSlot;

  constructor(
    private readonly socket: Socket,
    private readonly turns: PortTurns,
    port: TurnPort,
    readonly deliver: (chunk: Uint8Array) => void,
  ) {
    this.slot = turns.attach(port, this);
  }

  /** Bytes from the socket: handled now, or queued for the port's next turn. */
  received(chunk: Buffer): void {
    this.turns.received(this.slot, chunk);
  }

  setSocketReading(reading: boolean): void {
    if (this.socket.destroyed) return;
    if (reading) this.socket.resume();
    else this.socket.pause();
  }

  write(bytes: Uint8Array): void {
    if (this.socket.destroyed) return;
    // Replies written outside a chunk's handling (answers that waited for peers, Pub/Sub pushes)
    // are corked until the loop's check phase: one writev per loop iteration, not one syscall per reply.
    // (While a chunk is handled the socket is corked already: its replies leave with the turn's,
    // holdForTurn.)
    if (!this.corkedForTurn && this.socket.writableCorked === 0) {
      this.socket.cork();
      this.holdForTurn();
    }
    // A view, not a copy (ClientConnection.write: the caller hands the bytes over).
    this.socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), this.afterWrite);
  }

  /**
   * Leaves the cork just taken (for a chunk, or for a reply outside one) to the loop's check phase
   * (uncorkTurn), where every socket's replies of this loop iteration are written one after
   * another. Written as each chunk ended, they went out between the handling of other sockets'
   * chunks, so a client (redis-benchmark's one thread, say) had gone back to sleep between two of
   * them and each write paid its wake-up (on this host's VMs a cross-CPU interrupt: 22 % of an
   * N = 1 node's CPU, docs/benchmarks/redis.md).
   */
  holdForTurn(): void {
    // A chunk that waited for its port's turn is handled in the check phase already: a cork left
    // to it would hold the replies a whole iteration more, so they leave now, as before.
    if (this.corkedForTurn || this.turns.delivering) this.socket.uncork();
    else {
      this.corkedForTurn = true;
      setImmediate(this.uncorkTurn);
    }
  }

  private corkedForTurn = false;
  private readonly uncorkTurn = (): void => {
    this.corkedForTurn = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  bufferedBytes(): number {
    return this.socket.destroyed ? 0 : this.socket.writableLength;
  }

  setReading(reading: boolean): void {
    this.turns.setCoreReading(this.slot, reading);
  }

  end(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    this.linger = setTimeout(() => this.socket.destroy(), tcpListenerDefaults.closeLingerMs);
    this.linger.unref();
  }

  destroy(): void {
    // RST: the kernel drops what it still holds for this client (MBs for a slow reader) at once.
    if (!this.socket.destroyed && typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  socketClosed(): void {
    this.turns.closed(this.slot);
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
  }
}

/** `host:port`, IPv6 hosts in brackets; undefined for a socket that is already gone. */
function formatRemote(host: string | undefined, port: number | undefined): string | undefined {
  if (host === undefined || port === undefined) return undefined;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds `server`; resolves with the bound port, rejects with a typed error naming the address. */
export function bindServer(server: Server, host: string, port: number, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: unknown): void => {
      server.off('listening', onListening);
      const inUse = typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EADDRINUSE';
      const code = inUse ? ListenerErrorCode.addressInUse : ListenerErrorCode.listenFailed;
      reject(
        new BaristaError(code, `${what}: ${host}:${port} ${inUse ? 'is already in use' : 'cannot be bound'}`, {
          cause: err,
          fields: { host, port },
        }),
      );
    };
    const onListening = (): void => {
      server.off('error', onError);
      const addr = server.address();
      assert(addr !== null && typeof addr === 'object', 'a TCP server has an address object');
      resolve(addr.port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}
