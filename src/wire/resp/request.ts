// RESP requests: the server-side streaming decoder (a RequestDecoder for src/wire/pipeline.ts) and
// the client-side command encoder. Semantics are Redis 7.0.15's (networking.c, processInputBuffer,
// processInlineBuffer, processMultibulkBuffer), implemented from their description.
//
// Grammar (bytes of one client connection; "line" = bytes up to a terminator, see below):
//
//   client stream = *request
//   request       = multibulk / inline            ; multibulk iff its first byte is '*'
//   multibulk     = "*" count CR any *( bulk )    ; count arguments (none if count <= 0: skipped)
//   bulk          = "$" length CR any <length bytes> any any
//   inline        = line LF                        ; a CR before the LF is dropped; the line is
//                                                  ; split by inline.ts; no arguments: skipped
//   count, length = Redis string2ll: "0", or an optional "-" then a digit 1-9 then digits,
//                   fitting a signed 64-bit integer, under 21 bytes
//
// Redis-faithful details kept on purpose, so the same bytes mean the same thing to us and to Redis:
// the byte after the CR of a *N or $N line, and the two bytes after a bulk's data, are skipped
// unchecked (Redis does not look at them); a *N line may be any bytes up to the first CR in the
// buffer; the search for a line's end stops at a NUL byte, so a line with a NUL before its end
// never ends (Redis' strchr) and fails at the bound below; "*0" and "*-5" are empty requests.
//
// Bounds and errors (ProtocolError; all terminal: the session sends protocolErrorReply(error) and
// closes, as Redis does; requests decoded before the error are still served):
//   resp_inline_too_big          more than respInlineBytesMax bytes of an inline line without LF
//   resp_unbalanced_quotes       an inline line whose quotes do not balance
//   resp_mbulk_count_too_big     more than respInlineBytesMax bytes of a *N line without CR
//   resp_invalid_multibulk_length  N not a number, or over multibulkCountMax (Redis: INT_MAX)
//   resp_bulk_count_too_big      more than respInlineBytesMax bytes of a $N line without CR
//   resp_expected_bulk           an argument's line that does not start with '$'
//   resp_invalid_bulk_length     N not a number, negative, or over bulkBytesMax
//   resp_command_too_large       one request's argument bytes over commandBytesMax (no reply)
// Redis checks the 64 KiB line bound whenever a read leaves no line end in its buffer, so where it
// trips depends on how its 16 KiB reads fall; ours trips iff the first respInlineBytesMax + 1 bytes
// of the line hold no terminator, whatever the chunking. Redis' "unauthenticated multibulk/bulk
// length" errors need requirepass, which we do not have.
//
// Any chunking gives the same requests and errors (tested byte by byte and in random chunks);
// each byte is scanned once (a partial line remembers where its search stopped) and copied a
// bounded number of times (buffer.ts).

import { assert } from '../../lib/assert.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import type { RequestDecoder } from '../pipeline.ts';
import { StreamBuffer } from './buffer.ts';
import { expectedBulkError, RespRequestErrorCode as Code, respRequestError } from './errors.ts';
import { splitInlineArgs } from './inline.ts';
import { parseRedisInteger } from './integer.ts';

/**
 * One request: its arguments, the command name first (as sent: Redis matches names without case).
 * Never empty. Each argument is an array of its own, sharing no memory with the decoder.
 */
export type RespCommand = Uint8Array[];

export { parseRedisInteger };

export interface RespRequestBounds {
  /** Bytes of an inline line, or of a *N / $N line, before its terminator. */
  readonly inlineBytesMax: number;
  /** One bulk argument (Redis' proto-max-bulk-len). */
  readonly bulkBytesMax: number;
  /** Arguments of one multibulk request. */
  readonly multibulkCountMax: number;
  /** The argument bytes of one request. */
  readonly commandBytesMax: number;
}

export const defaultRespRequestBounds: RespRequestBounds = {
  inlineBytesMax: limits.respInlineBytesMax,
  bulkBytesMax: limits.respBulkBytesMax,
  multibulkCountMax: limits.respMultibulkCountMax,
  commandBytesMax: limits.respCommandBytesMax,
};

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
/** Decoder states between pushes. */
const State = {
  /** At the start of a request. */
  Start: 0,
  /** Inside a multibulk request, at an argument's $N line. */
  BulkLength: 1,
  /** Inside a multibulk request, reading an argument's bytes (then 2 skipped). */
  BulkData: 2,
} as const;
type State = (typeof State)[keyof typeof State];

/** What one argument of a decoded RESP command holds beside its bytes (its Uint8Array). */
export const RESP_ARG_OVERHEAD_BYTES = 64;

export class RespRequestDecoder implements RequestDecoder<RespCommand> {
  readonly bounds: RespRequestBounds;
  private readonly input = new StreamBuffer();
  private failure: ProtocolError | null = null;
  private state: State = State.Start;
  /** Where the search for the current line's terminator resumes (bytes already scanned). */
  private scanned = 0;
  private args: Uint8Array[] = [];
  /** What `args` and `arg` hold: their bytes and RESP_ARG_OVERHEAD_BYTES each. */
  private argsHeldBytes = 0;
  private argsLeft = 0;
  private argBytes = 0;
  private bulkLength = 0;
  /** The current argument's bytes, once taken, while its two trailing bytes are awaited. */
  private arg: Uint8Array | undefined;

  constructor(bounds: Partial<RespRequestBounds> = {}) {
    this.bounds = { ...defaultRespRequestBounds, ...bounds };
    for (const [name, value] of Object.entries(this.bounds)) {
      assert(Number.isSafeInteger(value) && value > 0, `RespRequestBounds.${name} must be a positive integer`);
    }
  }

  get failed(): ProtocolError | null {
    return this.failure;
  }

  /**
   * Memory held for a partial command: its input (StreamBuffer.heldBytes) and the arguments already
   * taken from it (a review: a command of three 16 MiB arguments and a fourth never sent held
   * 48 MiB here and reported about 1 KiB).
   */
  get heldBytes(): number {
    return this.input.heldBytes + this.argsHeldBytes;
  }

  /** Bytes copied so far (StreamBuffer.copiedBytes): a small multiple of the bytes received. */
  get copiedBytes(): number {
    return this.input.copiedBytes;
  }

  push(chunk: Uint8Array): void {
    if (this.failure !== null || chunk.length === 0) return;
    this.input.push(chunk);
  }

  /** The next request, the terminal error (once), or undefined for more bytes. */
  next(): RespCommand | ProtocolError | undefined {
    const input = this.input;
    while (this.failure === null) {
      switch (this.state) {
        case State.Start: {
          if (input.held === 0) return undefined;
          if (input.at(0) !== STAR) {
            const args = this.inline();
            if (args === undefined) return this.failure ?? undefined;
            if (args !== null) return args;
            break; // a blank line, skipped
          }
          const cr = this.findLine(CR, Code.mbulkCountTooBig);
          if (cr === undefined) return this.failure ?? undefined;
          const count = input.integer(1, cr);
          if (count === undefined || count > this.bounds.multibulkCountMax) {
            return this.fail(respRequestError(Code.invalidMultibulkLength, { count: count ?? null }));
          }
          input.consume(cr + 2);
          if (count <= 0) break; // an empty request, skipped
          this.argsLeft = count;
          this.argBytes = 0;
          this.args = [];
          this.argsHeldBytes = 0;
          this.state = State.BulkLength;
          break;
        }
        case State.BulkLength: {
          const cr = this.findLine(CR, Code.bulkCountTooBig);
          if (cr === undefined) return this.failure ?? undefined;
          const first = input.at(0);
          if (first !== DOLLAR) return this.fail(expectedBulkError(first));
          const length = input.integer(1, cr);
          if (length === undefined || length < 0 || length > this.bounds.bulkBytesMax) {
            return this.fail(respRequestError(Code.invalidBulkLength, { length: length ?? null }));
          }
          if (this.argBytes + length > this.bounds.commandBytesMax) {
            const commandBytesMax = this.bounds.commandBytesMax;
            return this.fail(
              respRequestError(Code.commandTooLarge, { commandBytes: this.argBytes + length, commandBytesMax }),
            );
          }
          input.consume(cr + 2);
          this.argBytes += length;
          this.bulkLength = length;
          this.state = State.BulkData;
          break;
        }
        case State.BulkData: {
          // The two bytes after the data are skipped unchecked, as Redis does.
          if (this.arg === undefined) {
            this.arg = input.take(this.bulkLength);
            if (this.arg === undefined) return undefined;
            this.argsHeldBytes += this.arg.length + RESP_ARG_OVERHEAD_BYTES;
          }
          if (input.held < 2) return undefined;
          input.consume(2);
          this.args.push(this.arg);
          this.arg = undefined;
          if (--this.argsLeft > 0) {
            this.state = State.BulkLength;
            break;
          }
          const command = this.args;
          this.args = [];
          this.argsHeldBytes = 0;
          this.state = State.Start;
          return command;
        }
      }
    }
    return undefined;
  }

  /** An inline request, undefined for more bytes, null for a blank line (skipped); failures go to fail(). */
  private inline(): RespCommand | null | undefined {
    const lf = this.findLine(LF, Code.inlineTooBig);
    if (lf === undefined) return undefined;
    const end = lf > 0 && this.input.at(lf - 1) === CR ? lf - 1 : lf;
    const args = splitInlineArgs(this.input.view(0, end));
    if (args === null) {
      this.fail(respRequestError(Code.unbalancedQuotes));
      return undefined;
    }
    this.input.consume(lf + 1);
    return args.length === 0 ? null : args;
  }

  /**
   * The offset of the current line's `terminator` (a CR only once the byte after it is held too),
   * or undefined for more bytes or a failure (`tooBig` once the line's first inlineBytesMax + 1
   * bytes are held without the terminator). Resumes its scan where the last call stopped.
   */
  private findLine(
    terminator: number,
    tooBig: typeof Code.mbulkCountTooBig | typeof Code.bulkCountTooBig | typeof Code.inlineTooBig,
  ): number | undefined {
    const input = this.input;
    const limit = this.bounds.inlineBytesMax + 1;
    const at = this.scanned < 0 ? -2 : input.indexOf(terminator, this.scanned, limit, true);
    if (at >= 0) {
      if (terminator === LF || at + 1 < input.held) {
        this.scanned = 0;
        return at;
      }
      this.scanned = at; // a CR as the last byte held: find it again when more arrive
      return undefined;
    }
    // -2: a NUL first: this line never ends (Redis' strchr), it can only grow to the bound.
    this.scanned = at === -2 ? -1 : Math.min(input.held, limit);
    if (input.held >= limit) this.fail(respRequestError(tooBig));
    return undefined;
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failure = error;
    this.input.release();
    this.args = [];
    this.arg = undefined;
    this.argsHeldBytes = 0;
    return error;
  }
}

const utf8 = new TextEncoder();

/** Encodes one command the way redis-cli and client libraries send it: a multibulk of bulks. */
export function encodeCommand(args: ReadonlyArray<Uint8Array | string>): Uint8Array {
  const parts = args.map((a) => (typeof a === 'string' ? utf8.encode(a) : a));
  let size = `*${parts.length}\r\n`.length;
  for (const p of parts) size += `$${p.length}\r\n`.length + p.length + 2;
  const out = new Uint8Array(size);
  let at = 0;
  const ascii = (s: string): void => {
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
  };
  ascii(`*${parts.length}\r\n`);
  for (const p of parts) {
    ascii(`$${p.length}\r\n`);
    out.set(p, at);
    at += p.length;
    ascii('\r\n');
  }
  return out;
}
