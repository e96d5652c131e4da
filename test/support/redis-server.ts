// A real redis-server (Debian's redis-server 7.0) started from a test, for the live comparisons of
// our Redis front end and data model with the reference: a free loopback port (the OS's: bind port
// 0, read it, close), no persistence (--save "" --appendonly no), data in a temporary directory, a
// bounded readiness wait (PING answered), and stop() that kills it by its PID and removes the
// directory. `exchange` pipelines commands on one fresh connection and resolves with one reply per
// command, within a bound. Callers check `redisServerUnavailable()` first and skip saying why.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { ProtocolError } from '../../src/lib/errors.ts';
import { encodeCommand, RespReplyDecoder, type RespValue } from '../../src/wire/resp/index.ts';
import { stopProcess, tempDir } from '../integration/helpers.ts';

const host = '127.0.0.1';
const readyMsMax = 20_000;
const replyMsMax = 20_000;

/** Why a live Redis test cannot run here, or undefined. */
export function redisServerUnavailable(): string | undefined {
  return spawnSync('redis-server', ['--version']).status === 0
    ? undefined
    : 'redis-server is not installed (apt-get install redis-server): live comparison skipped';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, host, () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
    s.on('error', reject);
  });
}

export interface RedisServer {
  readonly port: number;
  /** Sends the commands pipelined on a new connection; one reply per command, in order. */
  exchange(commands: ReadonlyArray<ReadonlyArray<Uint8Array | string>>): Promise<RespValue[]>;
  stop(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = tempDir('redis-live-');
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--bind', host, '--port', String(port), '--dir', dir.path, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const server: RedisServer = {
    port,
    exchange: (commands) => exchange(port, commands),
    stop: async () => {
      await stopProcess(child);
      dir.remove();
    },
  };
  const deadline = Date.now() + readyMsMax;
  for (;;) {
    const pong = await exchange(port, [['PING']]).catch(() => []);
    if (pong.length === 1) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`redis-server on port ${port} did not answer PING within ${readyMsMax} ms`);
    }
    await delay(50);
  }
}

function exchange(port: number, commands: ReadonlyArray<ReadonlyArray<Uint8Array | string>>): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const decoder = new RespReplyDecoder();
    const out: RespValue[] = [];
    const s = connect(port, host, () => {
      for (const c of commands) s.write(encodeCommand(c));
    });
    const bound = setTimeout(() => {
      s.destroy();
      reject(new Error(`${out.length} of ${commands.length} replies within ${replyMsMax} ms`));
    }, replyMsMax);
    s.on('data', (d) => {
      decoder.push(new Uint8Array(d));
      for (let r = decoder.next(); r !== undefined; r = decoder.next()) {
        if (r instanceof ProtocolError) {
          clearTimeout(bound);
          s.destroy();
          reject(r);
          return;
        }
        out.push(r);
      }
      if (out.length === commands.length) {
        clearTimeout(bound);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', (e) => {
      clearTimeout(bound);
      reject(e);
    });
  });
}
