// A raw RESP connection for the compat tests that need several connections at once (a redis-cli
// script has one): commands out, decoded replies kept in order, bounded waits.
import { connect, type Socket } from 'node:net';
import { show } from '../../src/services/store/sim-client.ts';
import { encodeCommand, RespReplyDecoder, type RespValue } from '../../src/wire/resp/index.ts';
import type { RunningRespServer } from './redis-servers.ts';

export class RespConn {
  readonly replies: RespValue[] = [];
  private readonly decoder = new RespReplyDecoder();
  private readonly socket: Socket;
  /** A socket error (ECONNRESET, ECONNREFUSED, ...): kept, and thrown by the next wait. */
  private failed: Error | undefined;
  constructor(server: RunningRespServer) {
    this.socket = connect(server.port, server.host);
    this.socket.on('error', (err) => {
      this.failed ??= err;
    });
    this.socket.on('data', (chunk) => {
      this.decoder.push(chunk);
      for (let r = this.decoder.next(); r !== undefined; r = this.decoder.next()) {
        if (!('type' in r)) throw r;
        this.replies.push(r);
      }
    });
  }
  send(...args: string[]): void {
    this.socket.write(encodeCommand(args));
  }
  /** Waits until `count` replies arrived in all (bounded), then returns them as text with type. */
  async upTo(count: number): Promise<string[]> {
    const deadline = Date.now() + 5_000;
    while (this.replies.length < count && this.failed === undefined && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    if (this.failed !== undefined && this.replies.length < count)
      throw new Error(`connection failed after ${this.replies.length} of ${count} replies: ${this.failed.message}`);
    return this.replies.map((v) => `${v.type} ${show(v)}`);
  }
  /** HELLO 3 as the connection's first request; its map differs (server, version, id): not kept. */
  async hello3(): Promise<void> {
    this.send('HELLO', '3');
    await this.upTo(1);
    this.replies.length = 0;
  }
  close(): void {
    this.socket.destroy();
  }
}
