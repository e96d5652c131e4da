// The Redis protocol errors: our stable codes, the exact text Redis 7.0.15 answers for each
// (src/networking.c, processInlineBuffer and processMultibulkBuffer), and the reply line a session
// sends before closing the connection.
//
// Redis answers a protocol error with `-ERR Protocol error: <what>\r\n` (addReplyError prefixes
// "ERR " to a text that does not start with '-') and closes the connection once that reply is
// written; it reads no further command from the connection. The one formatted text, "expected '$',
// got '%c'", goes through addReplyErrorFormat, which turns CR and LF into spaces; the byte itself
// is sent raw, so the text is kept as a byte string (one char per byte, latin1) and encoded as such.
// A request over our respCommandBytesMax is closed without a reply, as Redis does when a client
// passes client-query-buffer-limit.

import type { ProtocolErrorCode } from '../../lib/error-codes.ts';
import { ProtocolError } from '../../lib/errors.ts';

/** Stable ProtocolError codes of the request decoder. */
export const RespRequestErrorCode = {
  invalidMultibulkLength: 'resp_invalid_multibulk_length',
  invalidBulkLength: 'resp_invalid_bulk_length',
  expectedBulk: 'resp_expected_bulk',
  inlineTooBig: 'resp_inline_too_big',
  unbalancedQuotes: 'resp_unbalanced_quotes',
  mbulkCountTooBig: 'resp_mbulk_count_too_big',
  bulkCountTooBig: 'resp_bulk_count_too_big',
  commandTooLarge: 'resp_command_too_large',
} as const satisfies Record<string, ProtocolErrorCode>;
export type RespRequestErrorCode = (typeof RespRequestErrorCode)[keyof typeof RespRequestErrorCode];

/** Stable ProtocolError codes of the client-side reply decoder. */
export const RespReplyErrorCode = {
  malformed: 'resp_reply_malformed',
  tooLarge: 'resp_reply_too_large',
} as const satisfies Record<string, ProtocolErrorCode>;

/** Redis 7.0.15's reply text per code (after "-ERR "); null: Redis closes without a reply. */
const redisTexts: Record<Exclude<RespRequestErrorCode, 'resp_expected_bulk'>, string | null> = {
  resp_invalid_multibulk_length: 'Protocol error: invalid multibulk length',
  resp_invalid_bulk_length: 'Protocol error: invalid bulk length',
  resp_inline_too_big: 'Protocol error: too big inline request',
  resp_unbalanced_quotes: 'Protocol error: unbalanced quotes in request',
  resp_mbulk_count_too_big: 'Protocol error: too big mbulk count string',
  resp_bulk_count_too_big: 'Protocol error: too big bulk count string',
  resp_command_too_large: null,
};

/** A request decoder error; `redisText` (fields) is the text Redis answers, or null for none. */
export function respRequestError(
  code: Exclude<RespRequestErrorCode, 'resp_expected_bulk'>,
  fields: Record<string, unknown> = {},
): ProtocolError {
  const text = redisTexts[code];
  return new ProtocolError(code, text ?? 'request over respCommandBytesMax', { ...fields, redisText: text });
}

/** "expected '$', got '<byte>'": the byte raw, CR and LF as spaces (addReplyErrorFormat). */
export function expectedBulkError(got: number): ProtocolError {
  const shown = got === 0x0d || got === 0x0a ? 0x20 : got;
  const text = `Protocol error: expected '$', got '${String.fromCharCode(shown)}'`;
  return new ProtocolError(RespRequestErrorCode.expectedBulk, text, { redisText: text, got });
}

/**
 * The reply a session sends for a request decoder error before closing: `-ERR <text>\r\n` as Redis
 * sends it, or undefined (close without a reply). Errors of other decoders get a generic text.
 */
export function protocolErrorReply(error: ProtocolError): Uint8Array | undefined {
  const text = error.fields.redisText;
  if (text === null) return undefined;
  const line = `-ERR ${typeof text === 'string' ? text : 'Protocol error'}\r\n`;
  const out = new Uint8Array(line.length);
  for (let i = 0; i < line.length; i++) out[i] = line.charCodeAt(i) & 0xff;
  return out;
}
