// PortTurns: the fair share of one event loop among a process's client ports. Every client
// listener of a node runs on one event loop; without this, a flooded port's connections hand the
// loop megabytes per iteration (libuv reads up to 32 chunks of 64 KiB per readable socket per poll)
// and a client of another port waits behind all of it. With it, each port handles at most
// `turnBytesMax` received bytes per loop turn; what arrives beyond that is queued on its connection,
// the connection stops reading (its socket paused, so TCP pushes back on that client alone), and a
// turn (setImmediate, the check phase right after the poll) serves the ports with queued bytes round
// robin, up to the budget each, until nothing is queued.
//
// Invariants:
//   - per connection, bytes reach the handler in the order they arrived (a queued connection's new
//     bytes are queued behind the old ones, never delivered first);
//   - a port that has not used its budget this turn is served at once: a quiet port never waits for
//     a busy one's queue, only for the chunk being handled when its bytes arrive;
//   - queued bytes are delivered only while the connection's core wants to read (the in-flight bound
//     and reply backpressure still hold), and every turn makes progress: the first chunk of a turn is
//     delivered even if it alone exceeds the budget;
//   - a connection reads from its socket only when its core wants to read AND nothing is queued.
// The deferral (`defer`) is injected: setImmediate in a process, a manual queue in the tests.

import { assert } from '../lib/assert.ts';

/** One connection as PortTurns sees it. */
export interface TurnConnection {
  /** Hands `chunk` to the connection's core (which must be reading). */
  deliver(chunk: Uint8Array): void;
  /** Starts or stops reading from the socket (what the core wants AND nothing queued). */
  setSocketReading(reading: boolean): void;
}

/** A connection's queue and flags, kept by PortTurns. */
export class TurnSlot {
  /** What the core last asked for (sockets start paused). */
  coreReading = false;
  readonly queued: Uint8Array[] = [];
  /** In its port's ring of connections with queued bytes. */
  pending = false;
  closed = false;

  constructor(
    readonly port: TurnPort,
    readonly conn: TurnConnection,
  ) {}
}

/** One client port's share. */
export class TurnPort {
  /** Bytes handled since the current turn started. */
  used = 0;
  /** Connections with queued bytes, in the order they queued (round robin within the port). */
  readonly ring: TurnSlot[] = [];
  inRing = false;

  constructor(readonly name: string) {}
}

export class PortTurns {
  private scheduled = false;
  /** Ports with queued bytes, served round robin. */
  private readonly ports: TurnPort[] = [];
  /** Every port, for the budget reset at each turn. */
  private readonly all = new Set<TurnPort>();
  /** Chunks that had to wait for a turn (the tests read it). */
  deferredChunks = 0;

  constructor(
    readonly turnBytesMax: number,
    private readonly defer: (fn: () => void) => void,
  ) {
    assert(Number.isSafeInteger(turnBytesMax) && turnBytesMax > 0, 'turnBytesMax must be a positive integer');
  }

  port(name: string): TurnPort {
    const port = new TurnPort(name);
    this.all.add(port);
    return port;
  }

  /** The port's listener closed. */
  dropPort(port: TurnPort): void {
    this.all.delete(port);
    for (const slot of port.ring) this.closed(slot);
  }

  attach(port: TurnPort, conn: TurnConnection): TurnSlot {
    return new TurnSlot(port, conn);
  }

  /** Bytes read from `slot`'s socket. */
  received(slot: TurnSlot, chunk: Uint8Array): void {
    if (slot.closed) return;
    this.scheduleTurn(); // the budgets start over next turn even if nothing waits
    const port = slot.port;
    if (slot.queued.length === 0 && slot.coreReading && port.used < this.turnBytesMax) {
      port.used += chunk.length;
      slot.conn.deliver(chunk);
      return;
    }
    this.deferredChunks++;
    slot.queued.push(chunk);
    this.wait(slot);
    slot.conn.setSocketReading(false);
  }

  /** The core wants to read (true) or not (false). */
  setCoreReading(slot: TurnSlot, reading: boolean): void {
    if (slot.closed) return;
    slot.coreReading = reading;
    if (reading && slot.queued.length > 0) {
      this.wait(slot);
      this.scheduleTurn();
      return;
    }
    slot.conn.setSocketReading(reading && slot.queued.length === 0);
  }

  /** The connection is gone: its queued bytes with it. */
  closed(slot: TurnSlot): void {
    slot.closed = true;
    slot.queued.length = 0;
  }

  private wait(slot: TurnSlot): void {
    const port = slot.port;
    if (!slot.pending) {
      slot.pending = true;
      port.ring.push(slot);
    }
    if (!port.inRing) {
      port.inRing = true;
      this.ports.push(port);
    }
  }

  private scheduleTurn(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => this.turn());
  }

  /**
   * True while turn() hands out chunks that waited (in the loop's check phase): a reply held for
   * the check phase then would leave only in the next iteration's (tcp-listener.ts holdForTurn).
   */
  delivering = false;

  private turn(): void {
    this.scheduled = false;
    this.delivering = true;
    try {
      this.serve();
    } finally {
      this.delivering = false;
    }
  }

  private serve(): void {
    for (const p of this.all) p.used = 0;
    // Round robin: each port, in turn, one connection's chunk at a time, until its budget is spent.
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const port of this.ports) {
        if (port.used >= this.turnBytesMax) continue;
        const slot = this.nextReady(port);
        if (slot === undefined) continue;
        const chunk = slot.queued.shift()!;
        port.used += chunk.length;
        progressed = true;
        slot.conn.deliver(chunk);
        if (slot.queued.length === 0 && !slot.closed) {
          this.leave(slot);
          slot.conn.setSocketReading(slot.coreReading);
        } else if (slot.pending) {
          // to the back of its port's ring: the port's connections take turns
          port.ring.push(port.ring.shift()!);
        }
      }
    }
    for (let i = this.ports.length - 1; i >= 0; i--) {
      const port = this.ports[i]!;
      if (port.ring.length === 0) {
        port.inRing = false;
        this.ports.splice(i, 1);
      }
    }
    if (this.ports.some((p) => p.ring.some((s) => s.coreReading && !s.closed && s.queued.length > 0))) {
      this.scheduleTurn();
    } else {
      // Nothing more to serve: bytes arriving in the next poll are handled at once, with a full budget.
      for (const p of this.all) p.used = 0;
    }
  }

  /** The first connection of `port`'s ring that may be served now (closed ones leave the ring). */
  private nextReady(port: TurnPort): TurnSlot | undefined {
    for (let i = 0; i < port.ring.length; ) {
      const slot = port.ring[i]!;
      if (slot.closed || slot.queued.length === 0) {
        slot.pending = false;
        port.ring.splice(i, 1);
        continue;
      }
      if (slot.coreReading) {
        if (i > 0) port.ring.push(...port.ring.splice(0, i));
        return slot;
      }
      i++;
    }
    return undefined;
  }

  private leave(slot: TurnSlot): void {
    slot.pending = false;
    const ring = slot.port.ring;
    const i = ring.indexOf(slot);
    if (i >= 0) ring.splice(i, 1);
  }
}
