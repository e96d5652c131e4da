// The ZooKeeper client protocol's public API: what the service (src/services/coord) and our own
// TypeScript client import. Bytes only; see frame.ts (framing, decoders, encoders), records.ts
// (every record and which opcode carries which) and jute.ts (primitives).
//
// Server:  new ZkRequestDecoder() -> { kind: 'connect' | 'fourLetter' | 'request' | 'unknown' |
//          'malformed' } (a RequestDecoder for src/wire/pipeline.ts); answer with
//          encodeConnectResponse / encodeReply / encodeNotification.
// Client:  encodeConnectRequest / encodeRequest / encodeFourLetterWord; new ZkReplyDecoder({
//          typeOfXid }) -> { kind: 'connect' | 'reply' | 'notification' }.

export { decodeWith, JuteReader, JuteWriter } from './jute.ts';
export {
  encodeConnectRequest,
  encodeConnectResponse,
  encodeFourLetterWord,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type FourLetterWord,
  fourLetterWords,
  type ZkClientReply,
  type ZkDecoderOptions,
  ZkReplyDecoder,
  type ZkReplyDecoderOptions,
  ZkRequestDecoder,
  type ZkServerRequest,
} from './frame.ts';
export type * from './records.ts';
export { isKnownRequestType, readStat, writeStat } from './records.ts';
