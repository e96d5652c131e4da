// The ZooKeeper client protocol's public API: what the service (src/services/coord) and our own
// TypeScript client import. Bytes only; see frame.ts (framing, decoders, encoders), records.ts
// (shared records and the table of which opcode carries which record), requests.ts and
// responses.ts (the bodies per opcode), jute.ts (primitives).
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
export { readStat, writeStat } from './records.ts';
export type * from './requests.ts';
export { isKnownRequestType } from './requests.ts';
export type * from './responses.ts';
