// The Redis protocol's public API: what the RESP front end (its session, issue 10) and our own
// clients (tests, the `barista store` CLI, benchmarks) import. Bytes only; see request.ts (the
// server-side request decoder and the command encoder), inline.ts (inline command splitting),
// reply.ts (the reply value, the RESP2/RESP3 encoder), reply-decoder.ts (the client side), integer.ts
// (Redis' string2ll), errors.ts
// (codes and Redis' exact protocol error texts), buffer.ts (the byte store of both decoders).
//
// Server:  new RespRequestDecoder() -> Uint8Array[] per request (a RequestDecoder for
//          src/wire/pipeline.ts); answer with encodeReply(value, protocol); on a ProtocolError send
//          protocolErrorReply(error) (undefined: none) and close, as Redis does.
// Client:  encodeCommand(args); new RespReplyDecoder() -> RespValue per reply.

export { protocolErrorReply, RespReplyErrorCode, RespRequestErrorCode } from './errors.ts';
export { splitInlineArgs } from './inline.ts';
export { encodeReply, formatDouble, type RespProtocol, type RespText, type RespValue, reply } from './reply.ts';
export { defaultRespReplyBounds, type RespReplyBounds, RespReplyDecoder } from './reply-decoder.ts';
export {
  defaultRespRequestBounds,
  encodeCommand,
  parseRedisInteger,
  type RespCommand,
  type RespRequestBounds,
  RespRequestDecoder,
} from './request.ts';
