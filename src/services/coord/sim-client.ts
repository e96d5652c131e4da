// A minimal ZooKeeper client over a simulated client connection, for the coord service's
// simulator tests: the wire codec's client side (src/wire/zookeeper encoders and ZkReplyDecoder)
// on `sim.clients.connect(node, 'zookeeper')`. It keeps everything it receives in arrival order
// (`stream`), so a test can check that a watch event arrived before the reply that reflects its
// change. No retries, no pings of its own accord, no reconnect logic: a test drives each step.
// (Our full TypeScript ZooKeeper client is a later piece; this is only what the tests need.)

import { OpCode } from '../../coord/codes.ts';
import type { NodeId } from '../../env/types.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import type { SimClientCloseReason, SimClientConnection } from '../../sim/client-links.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { drainDecoder } from '../../wire/pipeline.ts';
import {
  encodeConnectRequest,
  encodeFourLetterWord,
  encodeRequest,
  type FourLetterWord,
  type ZkClientReply,
  ZkReplyDecoder,
} from '../../wire/zookeeper/index.ts';
import type { RequestBody, ResponseType } from '../../wire/zookeeper/index.ts';
import { ZOOKEEPER_PROTOCOL } from './config.ts';

export interface SimZkSessionInfo {
  readonly sessionId: bigint;
  readonly passwd: Uint8Array;
  readonly timeOutMs: number;
}

export class SimZkClient {
  readonly conn: SimClientConnection;
  /** Everything received, in order. */
  readonly stream: ZkClientReply[] = [];
  closed: SimClientCloseReason | undefined;
  decodeError: ProtocolError | undefined;
  text = '';
  private readonly pending = new Map<number, ResponseType>();
  private readonly decoder: ZkReplyDecoder;
  private nextXid = 1;

  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: any simulated cluster's host type.
    sim: Simulation<any>,
    readonly node: NodeId,
    options: { host?: string } = {},
  ) {
    this.conn = sim.clients.connect(node, ZOOKEEPER_PROTOCOL, options);
    this.decoder = new ZkReplyDecoder({ typeOfXid: (xid) => this.pending.get(xid) });
    this.conn.onData((chunk) => {
      if (this.fourLetter) {
        this.text += new TextDecoder().decode(chunk);
        return;
      }
      this.decoder.push(chunk);
      this.decodeError ??= drainDecoder(this.decoder, (r) => {
        if (r.kind === 'reply') this.pending.delete(r.header.xid);
        this.stream.push(r);
      });
    });
    this.conn.onClose((reason) => {
      this.closed = reason;
    });
  }

  private fourLetter = false;

  sendFourLetter(word: FourLetterWord): void {
    this.fourLetter = true;
    this.conn.write(encodeFourLetterWord(word));
  }

  /** Sends a ConnectRequest (a new session unless `resume` names one). */
  sendConnect(
    options: { timeOutMs?: number; resume?: SimZkSessionInfo; lastZxidSeen?: bigint; readOnly?: boolean } = {},
  ): void {
    this.conn.write(
      encodeConnectRequest({
        protocolVersion: 0,
        lastZxidSeen: options.lastZxidSeen ?? 0n,
        timeOutMs: options.timeOutMs ?? 4000,
        sessionId: options.resume?.sessionId ?? 0n,
        passwd: options.resume?.passwd ?? new Uint8Array(16),
        readOnly: options.readOnly ?? null,
      }),
    );
  }

  /** Sends a request; returns its xid (reserved xids for ping, auth and setWatches). */
  send(body: RequestBody<bigint | number>): number {
    const reserved =
      body.type === OpCode.ping
        ? -2
        : body.type === OpCode.auth
          ? -4
          : body.type === OpCode.setWatches || body.type === OpCode.setWatches2
            ? -8
            : undefined;
    const xid = reserved ?? this.nextXid++;
    if (reserved === undefined) this.pending.set(xid, body.type as ResponseType);
    this.conn.write(encodeRequest(xid, body));
    return xid;
  }

  /** A hand-made request frame (any type, any body bytes); its reply is decoded as a delete's. */
  sendRaw(type: number, body: Uint8Array): number {
    const xid = this.nextXid++;
    this.pending.set(xid, OpCode.delete);
    const frame = new Uint8Array(12 + body.length);
    const view = new DataView(frame.buffer);
    view.setInt32(0, 8 + body.length);
    view.setInt32(4, xid);
    view.setInt32(8, type);
    frame.set(body, 12);
    this.conn.write(frame);
    return xid;
  }

  /** The connect response, once received. */
  session(): SimZkSessionInfo | undefined {
    const c = this.stream.find((r) => r.kind === 'connect');
    if (c === undefined || c.kind !== 'connect') return undefined;
    return {
      sessionId: c.response.sessionId,
      passwd: c.response.passwd ?? new Uint8Array(0),
      timeOutMs: c.response.timeOutMs,
    };
  }

  /** The reply to `xid`, once received. */
  reply(xid: number): Extract<ZkClientReply, { kind: 'reply' }> | undefined {
    for (const r of this.stream) if (r.kind === 'reply' && r.header.xid === xid) return r;
    return undefined;
  }

  /** Position of the reply to `xid` in the stream (-1 if absent). */
  indexOfReply(xid: number): number {
    return this.stream.findIndex((r) => r.kind === 'reply' && r.header.xid === xid);
  }

  notifications(): Extract<ZkClientReply, { kind: 'notification' }>[] {
    return this.stream.filter((r): r is Extract<ZkClientReply, { kind: 'notification' }> => r.kind === 'notification');
  }

  close(): void {
    this.conn.close();
  }
}
