// A minimal RESP client over a simulated client connection, for the store service's simulator
// tests: encodeCommand out, RespReplyDecoder in, every reply kept in arrival order. No retries,
// no reconnects: a test drives each step. Raw bytes can be sent too (protocol error tests).

import type { NodeId } from '../../env/types.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import type { SimClientCloseReason, SimClientConnection } from '../../sim/client-links.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { drainDecoder } from '../../wire/pipeline.ts';
import { encodeCommand, RespReplyDecoder, type RespValue } from '../../wire/resp/index.ts';
import { RESP_PROTOCOL } from './config.ts';

export class SimRespClient {
  readonly conn: SimClientConnection;
  /** Every reply received, in order. */
  readonly replies: RespValue[] = [];
  closed: SimClientCloseReason | undefined;
  decodeError: ProtocolError | undefined;
  /** Commands sent (so a test can wait for all their replies). */
  sent = 0;
  private readonly decoder = new RespReplyDecoder();

  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: any simulated cluster's host type.
    sim: Simulation<any>,
    readonly node: NodeId,
  ) {
    this.conn = sim.clients.connect(node, RESP_PROTOCOL);
    this.conn.onData((chunk) => {
      this.decoder.push(chunk);
      this.decodeError ??= drainDecoder(this.decoder, (r) => this.replies.push(r));
    });
    this.conn.onClose((reason) => {
      this.closed = reason;
    });
  }

  /** Sends one command; returns the index its reply will have in `replies`. */
  send(...args: (string | Uint8Array)[]): number {
    this.conn.write(encodeCommand(args));
    return this.sent++;
  }

  /** Sends bytes as they are (inline commands, malformed input); counts `requests` replies expected. */
  sendRaw(bytes: Uint8Array | string, requests = 0): void {
    this.conn.write(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
    this.sent += requests;
  }

  /** Whether every command sent has its reply. */
  get settled(): boolean {
    return this.replies.length >= this.sent;
  }

  close(): void {
    this.conn.close();
  }
}

/** A reply as text for assertions: `+OK`, `-ERR ...`, `:1`, `$abc`, `_`, `*[...]`. */
export function show(v: RespValue | undefined): string {
  if (v === undefined) return '<none>';
  const text = (t: string | Uint8Array) => (typeof t === 'string' ? t : new TextDecoder().decode(t));
  switch (v.type) {
    case 'simple':
      return `+${text(v.value)}`;
    case 'error':
      return `-${text(v.message)}`;
    case 'integer':
      return `:${v.value}`;
    case 'bulk':
      return `$${text(v.value)}`;
    case 'null':
    case 'nullArray':
      return '_';
    case 'array':
    case 'set':
    case 'push':
      return `*[${v.items.map(show).join(',')}]`;
    case 'map':
      return `%{${v.entries.map(([k, x]) => `${show(k)}=${show(x)}`).join(',')}}`;
    case 'double':
      return `,${v.value}`;
    case 'boolean':
      return `#${v.value ? 't' : 'f'}`;
    case 'bignum':
      return `(${v.value}`;
    case 'verbatim':
      return `=${text(v.text)}`;
  }
}

/**
 * SCAN from cursor 0 to the end on `node` with `options` (MATCH, COUNT, TYPE): the keys in reply
 * order. Throws when a reply is not a SCAN page or the scan takes more than `callsMax` calls.
 */
export function scanAll(
  // biome-ignore lint/suspicious/noExplicitAny: any simulated cluster's host type.
  sim: Simulation<any>,
  node: NodeId,
  options: readonly string[] = [],
  callsMax = 10_000,
): string[] {
  const c = new SimRespClient(sim, node);
  const keys: string[] = [];
  let cursor = '0';
  for (let calls = 0; calls < callsMax; calls++) {
    c.send('SCAN', cursor, ...options);
    if (!sim.runUntilCondition(() => c.settled || c.closed !== undefined, 20_000)) break;
    const r = show(c.replies.at(-1));
    const m = /^\*\[\$(\d+),\*\[(.*)\]\]$/.exec(r);
    if (m === null) throw new Error(`not a SCAN page: ${r}`);
    if (m[2] !== '') keys.push(...m[2]!.split(',').map((k) => k.slice(1)));
    cursor = m[1]!;
    if (cursor === '0') {
      c.close();
      return keys;
    }
  }
  throw new Error(`SCAN on ${node} did not end in ${callsMax} calls`);
}

/**
 * Sends `commands` on a new connection to `node` and runs the simulation until every reply came
 * (or the connection closed): the replies as `show` writes them. Throws past `waitMs` of virtual time.
 */
export function runCommands(
  // biome-ignore lint/suspicious/noExplicitAny: any simulated cluster's host type.
  sim: Simulation<any>,
  node: NodeId,
  commands: readonly (readonly string[])[],
  waitMs = 20_000,
): string[] {
  const c = new SimRespClient(sim, node);
  for (const cmd of commands) c.send(...cmd);
  if (!sim.runUntilCondition(() => c.settled || c.closed !== undefined, waitMs))
    throw new Error(`no replies at ${node} to ${JSON.stringify(commands)} in ${waitMs} ms`);
  return c.replies.map(show);
}
