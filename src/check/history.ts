// The history model shared by everything that records or checks operations (Jepsen's op maps).
//
//   invoke: a client began an operation.
//   ok:     it completed and took effect (value = what it observed/returned).
//   fail:   it definitely did not take effect.
//   info:   indeterminate: it may take effect at any time after its invoke, or never. A process
//           that got `info` is never reused (the next op from that client uses a new process id).
// Every completion pairs with the latest open invoke of the same process.

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/** A process is a client thread (number) or a named actor such as Jepsen's `nemesis`. */
export type ProcessId = number | string;

export interface Op {
  readonly type: OpType;
  readonly process: ProcessId;
  /** The function: 'read', 'write', 'cas', 'put', 'get', 'append', 'add', 'send', 'poll', ... */
  readonly f: string;
  /** Argument on invoke, result on completion; models define its shape (cas: [from, to]). */
  readonly value: unknown;
  /** Time in nanoseconds from the start of the test (Jepsen's convention), if known. */
  readonly time?: number;
  /** Position in the history, 0-based, assigned by the recorder or reader. */
  readonly index: number;
  /** Key, for multi-key histories checked per key. */
  readonly key?: string;
  /** Error code on fail/info, when the client reported one. */
  readonly error?: string;
}

export type History = readonly Op[];
