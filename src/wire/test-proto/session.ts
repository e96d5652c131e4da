// The test protocol's session handler: maps each request to its trivial "service" and answers
// through the shared RequestPipeline. The verbs are chosen to exercise the listener's bounds:
//
//   ECHO text         -> +text
//   UPPER text        -> +TEXT
//   SLOW ms text      -> +text after ms (0..testProtoSlowMsMax) on the Env's timers: requests in
//                        flight, so a pipelining client meets the in-flight bound
//   FLOOD count bytes -> count lines "+" and bytes-2 'x' (each line `bytes` long, 3..line max), one
//                        batch of up to testProtoFloodBatchBytes every millisecond while write()
//                        says go on, else after onDrain (a large streamed reply), then +flooded.
//                        A client that reads slowly slows it down; one that does not read stalls it.
//   PUSH count bytes  -> the same lines, a batch every millisecond whatever write() says
//                        (unsolicited output, as pub/sub and watches produce), then +pushed. A client
//                        that does not read is evicted as a slow reader.
//   QUIT              -> +bye, then the server closes
//   anything else     -> -unknown_command VERB ; a bad argument -> -bad_argument detail
// A malformed stream gets "-" code and the connection closes (pipeline.ts).

import type { ClientConnection, Metrics, Timers } from '../../env/types.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import { type Reply, RequestPipeline } from '../pipeline.ts';
import { ascii, encodeReply, type TestRequest, TestRequestDecoder, testProtoLineBytesMax } from './codec.ts';

export const testProtocolName = 'test-proto';
/** Longest SLOW delay. */
export const testProtoSlowMsMax = 60_000;
/** Lines one FLOOD may ask for. */
export const testProtoFloodCountMax = 1_000_000;
/** Bytes a FLOOD writes per millisecond turn. */
export const testProtoFloodBatchBytes = 64 * 1024;

export interface TestSessionEnv {
  readonly timers: Timers;
  readonly metrics: Metrics;
}

/** The listener handler for the test protocol: one pipeline per connection. */
export function serveTestProto(env: TestSessionEnv): (connection: ClientConnection) => void {
  return (connection) => {
    const pipeline: RequestPipeline<TestRequest> = new RequestPipeline<TestRequest>({
      connection,
      decoder: new TestRequestDecoder(),
      metrics: env.metrics,
      timers: env.timers,
      serve: (request, reply) => serve(env, connection, request, reply, (fn) => pipeline.whenDrained(fn)),
      protocolErrorReply: (error: ProtocolError) => encodeReply({ ok: false, text: error.code }),
    });
  };
}

function ok(text: string): Uint8Array {
  return encodeReply({ ok: true, text });
}

/** The test protocol's own error words (its wire strings, as RESP has `-ERR`), not catalogue codes. */
function refusal(word: 'bad_argument' | 'unknown_command', detail: string): Uint8Array {
  return encodeReply({ ok: false, text: `${word} ${detail}` });
}

function serve(
  env: TestSessionEnv,
  connection: ClientConnection,
  request: TestRequest,
  reply: Reply,
  whenDrained: (fn: () => void) => void,
): void {
  const { verb, argument } = request;
  switch (verb) {
    case 'ECHO':
      reply(ok(argument));
      return;
    case 'UPPER':
      reply(ok(argument.toUpperCase()));
      return;
    case 'QUIT':
      reply(ok('bye'), { thenClose: true });
      return;
    case 'SLOW': {
      const space = argument.indexOf(' ');
      const msText = space < 0 ? argument : argument.slice(0, space);
      const ms = parseCount(msText, testProtoSlowMsMax);
      if (ms === undefined) {
        reply(refusal('bad_argument', `SLOW needs ms in 0..${testProtoSlowMsMax}`));
        return;
      }
      const text = space < 0 ? '' : argument.slice(space + 1);
      env.timers.after(ms, () => reply(ok(text)));
      return;
    }
    case 'FLOOD':
    case 'PUSH': {
      const [countText = '', bytesText = ''] = argument.split(' ');
      const count = parseCount(countText, testProtoFloodCountMax);
      const lineBytes = parseCount(bytesText, testProtoLineBytesMax);
      if (count === undefined || lineBytes === undefined || lineBytes < 3) {
        reply(refusal('bad_argument', `${verb} needs count and line bytes (3 or more)`));
        return;
      }
      flood(env, connection, { count, lineBytes, heedBackpressure: verb === 'FLOOD' }, reply, whenDrained);
      return;
    }
    default:
      reply(refusal('unknown_command', verb));
  }
}

interface FloodOptions {
  readonly count: number;
  readonly lineBytes: number;
  /** Wait for onDrain when write() says stop (FLOOD), or write on regardless (PUSH). */
  readonly heedBackpressure: boolean;
}

/** Writes `count` lines in batches, one batch per millisecond (see FLOOD and PUSH above). */
function flood(
  env: TestSessionEnv,
  connection: ClientConnection,
  options: FloodOptions,
  reply: Reply,
  whenDrained: (fn: () => void) => void,
): void {
  const { count, lineBytes, heedBackpressure } = options;
  const line = ascii(`+${'x'.repeat(lineBytes - 2)}\n`);
  const perBatch = Math.max(1, Math.floor(testProtoFloodBatchBytes / lineBytes));
  let left = count;
  const batch = (): void => {
    if (connection.closed) return;
    const n = Math.min(perBatch, left);
    const bytes = new Uint8Array(n * lineBytes);
    for (let i = 0; i < n; i++) bytes.set(line, i * lineBytes);
    left -= n;
    const go = connection.write(bytes);
    if (left === 0) reply(ok(heedBackpressure ? 'flooded' : 'pushed'));
    else if (go || !heedBackpressure) env.timers.after(1, batch);
    // One drain resumes this flood once (through the pipeline, whose the connection's drain slot is).
    else whenDrained(() => env.timers.after(1, batch));
  };
  batch();
}

/** A decimal integer in [0, max], or undefined. */
function parseCount(text: string, max: number): number | undefined {
  if (!/^[0-9]{1,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}
