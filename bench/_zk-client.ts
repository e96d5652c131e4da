// node-zookeeper-client as the coordination benchmarks use it: connected with the anchors'
// options (../shared/anchors/bench-zk.mjs: session timeout 30 s, spin delay 500 ms, 2 retries), and
// every request a promise with a deadline, so a server that stops answering fails the op instead of
// hanging the benchmark (the client library itself has no request timeout).
import zookeeper from 'node-zookeeper-client';
import { zkCall as zkCallWithin } from '../test/support/zk-call.ts';

export type ZkClient = zookeeper.Client;
export const CreateMode = zookeeper.CreateMode;

const connectMsMax = 15_000;
export const zkRequestMsMax = 10_000;

/** A node-style callback call as a promise that fails after boundMs (default zkRequestMsMax). */
export function zkCall<T>(
  what: string,
  start: (cb: (error: unknown, value?: T) => void) => void,
  boundMs = zkRequestMsMax,
): Promise<T> {
  return zkCallWithin(what, start, boundMs);
}

/** One session on `connectString` (the client picks a server), or an error after 15 s. */
export async function zkConnect(connectString: string): Promise<ZkClient> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 30_000, spinDelay: 500, retries: 2 });
  try {
    await zkCall<void>(
      `connect to ${connectString}`,
      (cb) => {
        client.once('connected', () => cb(null));
        client.connect();
      },
      connectMsMax,
    );
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/**
 * The port of the server the session is on (the client picked it from the connect string), from
 * the client's socket (node-zookeeper-client keeps it on its connection manager); undefined if it
 * is not connected.
 */
export function connectedPort(client: ZkClient): number | undefined {
  const manager = (client as unknown as { connectionManager?: { socket?: { remotePort?: number } } }).connectionManager;
  return manager?.socket?.remotePort;
}
