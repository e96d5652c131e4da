// Test support for the Redis data model's tests (not used in production): a keyspace over an LSM
// engine on the simulator's disk, a clock the test moves, a seeded Rng, and `run(...args)` that
// executes one command as the server does (table.ts runCommand: lookup, arity, run, endCommand).

import { SeededRng } from '../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../sim/disk.ts';
import type { LsmEngine, LsmOptions } from '../storage/lsm/engine.ts';
import { ManualClock, openEngine } from '../storage/lsm/test-support.ts';
import type { RespValue } from '../wire/resp/index.ts';
import type { CommandContext } from './command.ts';
import { Keyspace, type KeyspaceOptions } from './keyspace.ts';
import { runCommand } from './table.ts';

const utf8 = new TextEncoder();

export interface HarnessOptions {
  readonly seed?: string;
  readonly lsm?: Partial<LsmOptions>;
  readonly keyspace?: KeyspaceOptions;
}

export class RedisHarness {
  readonly store: SimDiskStore;
  readonly clock = new ManualClock();
  readonly rng: SeededRng;
  engine: LsmEngine;
  keyspace: Keyspace;
  private readonly options: HarnessOptions;

  constructor(options: HarnessOptions = {}) {
    this.options = options;
    this.rng = new SeededRng(options.seed ?? 'redis-harness');
    this.store = new SimDiskStore(this.rng.fork('disk'), defaultDiskFaults);
    this.engine = this.open();
    this.keyspace = new Keyspace(this.engine, options.keyspace);
  }

  private open(): LsmEngine {
    // Larger bounds than the engine tests' defaults: Redis values up to a few KiB, keys to 1 KiB.
    return openEngine(this.store.view(), this.clock, {
      sync: 'always',
      keyBytesMax: 4096,
      valueBytesMax: 1024 * 1024,
      commitLogPendingBytesMax: 4 * 1024 * 1024,
      commitLogSegmentBytesMax: 8 * 1024 * 1024,
      memtableBytesMax: 64 * 1024,
      ...this.options.lsm,
    });
  }

  get ctx(): CommandContext {
    return { keyspace: this.keyspace, nowMs: this.clock.nowMs, rng: this.rng };
  }

  /** Runs one command; string arguments are UTF-8. */
  run(...args: Array<string | Uint8Array>): RespValue {
    return runCommand(
      this.ctx,
      args.map((a) => (typeof a === 'string' ? utf8.encode(a) : a)),
    );
  }

  /** Closes the engine cleanly and opens it again on the same disk. */
  restart(): void {
    this.engine.close();
    this.engine = this.open();
    this.keyspace = new Keyspace(this.engine, this.options.keyspace);
  }
}

/** A reply in a compact comparable form: strings for bulk/simple/error, numbers for integers. */
export function show(v: RespValue): unknown {
  switch (v.type) {
    case 'simple':
      return `+${typeof v.value === 'string' ? v.value : new TextDecoder().decode(v.value)}`;
    case 'error':
      return `-${typeof v.message === 'string' ? v.message : new TextDecoder().decode(v.message)}`;
    case 'integer':
      return Number(v.value);
    case 'bulk':
      return new TextDecoder().decode(v.value);
    case 'null':
    case 'nullArray':
      return null;
    case 'array':
    case 'set':
    case 'push':
      return v.items.map(show);
    case 'double':
      return v.value;
    default:
      return v;
  }
}
