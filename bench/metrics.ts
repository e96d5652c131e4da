// `npm run bench -- metrics [--n 2000000] [--reps 3]`: hot paths of src/metrics and src/lib/bytes,
// each beside a reference measured in the same run.
//   histogram.observe   vs node:perf_hooks createHistogram().record (native C++ HdrHistogram)
//   histogram p50/p99   vs sorting a Float64Array of the same values (exact oracle)
//   counter.inc         vs incrementing a plain object field
//   ByteWriter/Reader   vs Buffer.writeUInt32BE/writeBigInt64BE/readUInt32BE/... on a preallocated Buffer
// Best of `reps` runs, ns per operation; ratio = reference time / ours (> 1 means ours is faster).
import { createHistogram } from 'node:perf_hooks';
import { ByteReader, ByteWriter } from '../src/lib/bytes.ts';
import { LogLinearHistogram } from '../src/metrics/histogram.ts';
import { MetricsRegistry } from '../src/metrics/registry.ts';
import { machineLine } from './_machine.ts';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

/** Best-of-reps nanoseconds per op of `fn`, which performs `ops` operations. */
function nsPerOp(reps: number, ops: number, fn: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, ns / ops);
  }
  return best;
}

let sink = 0; // defeats dead-code elimination

export default async function (args: string[]): Promise<void> {
  const n = arg(args, 'n', 2_000_000);
  const reps = arg(args, 'reps', 3);
  console.log(`command: npm run bench -- metrics --n ${n} --reps ${reps}`);
  console.log(machineLine());
  // Latency-like values: log-uniform over 0.01 ms … 10 s, as integers in µs for the native HDR.
  const values = new Float64Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    values[i] = 0.01 * 10 ** ((6 * x) / 2 ** 32);
  }
  const rows: Array<[string, number, string, number]> = [];

  const ours = nsPerOp(reps, n, () => {
    const h = new LogLinearHistogram();
    for (let i = 0; i < n; i++) h.observe(values[i]!);
    sink += h.count;
  });
  const native = nsPerOp(reps, n, () => {
    const h = createHistogram({ lowest: 1, highest: 10_000_000_000, figures: 2 });
    for (let i = 0; i < n; i++) h.record(Math.max(1, Math.round(values[i]! * 1000)));
    sink += h.count;
  });
  rows.push(['histogram.observe', ours, 'perf_hooks HDR record', native]);

  const filled = new LogLinearHistogram();
  for (let i = 0; i < n; i++) filled.observe(values[i]!);
  const qOps = 1000;
  const oursQ = nsPerOp(reps, qOps, () => {
    for (let i = 0; i < qOps; i++) sink += filled.quantile(i % 2 === 0 ? 0.5 : 0.99);
  });
  const sortQ = nsPerOp(1, 1, () => {
    const copy = values.slice().sort();
    sink += copy[Math.floor(n / 2)]! + copy[Math.floor(n * 0.99)]!;
  });
  rows.push(['quantile (p50|p99)', oursQ, `sort ${n} values once`, sortQ]);
  const exact = values.slice().sort();
  const err = (q: number) => Math.abs(filled.quantile(q) - exact[Math.ceil(q * n) - 1]!) / exact[Math.ceil(q * n) - 1]!;

  const registry = new MetricsRegistry();
  const counter = registry.counter('bench_total', 'Bench.');
  const obj = { v: 0 };
  const oursInc = nsPerOp(reps, n, () => {
    for (let i = 0; i < n; i++) counter.inc();
  });
  const plainInc = nsPerOp(reps, n, () => {
    for (let i = 0; i < n; i++) obj.v++;
  });
  sink += obj.v + counter.value;
  rows.push(['counter.inc', oursInc, 'obj.v++', plainInc]);

  // A record like an AppendEntries entry header: u32, i64, u16, 16 payload bytes.
  const records = Math.floor(n / 4);
  const payload = new Uint8Array(16).fill(7);
  const recordBytes = 4 + 8 + 2 + 16;
  const oursW = nsPerOp(reps, records, () => {
    const w = new ByteWriter({ initialBytes: records * recordBytes, bytesMax: records * recordBytes });
    for (let i = 0; i < records; i++)
      w.u32(i)
        .i64(BigInt(i))
        .u16(i & 0xffff)
        .raw(payload);
    sink += w.finish().length;
  });
  const bufW = nsPerOp(reps, records, () => {
    const b = Buffer.allocUnsafe(records * recordBytes);
    let o = 0;
    for (let i = 0; i < records; i++) {
      o = b.writeUInt32BE(i, o);
      o = b.writeBigInt64BE(BigInt(i), o);
      o = b.writeUInt16BE(i & 0xffff, o);
      b.set(payload, o);
      o += 16;
    }
    sink += o;
  });
  rows.push(['ByteWriter record', oursW, 'Buffer.write*BE', bufW]);
  const w = new ByteWriter({ bytesMax: records * recordBytes });
  for (let i = 0; i < records; i++)
    w.u32(i)
      .i64(BigInt(i))
      .u16(i & 0xffff)
      .raw(payload);
  const encoded = w.finish();
  const oursR = nsPerOp(reps, records, () => {
    const r = new ByteReader(encoded);
    for (let i = 0; i < records; i++) {
      sink += r.u32() + Number(r.i64()) + r.u16() + r.raw(16).length;
    }
  });
  const buf = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const bufR = nsPerOp(reps, records, () => {
    let o = 0;
    for (let i = 0; i < records; i++) {
      // Buffer reads check bounds too (they throw RangeError past the end).
      sink += buf.readUInt32BE(o) + Number(buf.readBigInt64BE(o + 4)) + buf.readUInt16BE(o + 12);
      sink += buf.subarray(o + 14, o + 30).length;
      o += recordBytes;
    }
  });
  rows.push(['ByteReader record', oursR, 'Buffer.read*BE', bufR]);
  const strings = Array.from({ length: 1000 }, (_, i) => `topic-${i}-partition`);
  const strOps = records;
  const oursS = nsPerOp(reps, strOps, () => {
    const sw = new ByteWriter({ initialBytes: strOps * 32, bytesMax: strOps * 32 });
    for (let i = 0; i < strOps; i++) sw.stringI16(strings[i % 1000]!);
    sink += sw.finish().length;
  });
  const bufS = nsPerOp(reps, strOps, () => {
    const b = Buffer.allocUnsafe(strOps * 32);
    let o = 0;
    for (let i = 0; i < strOps; i++) {
      const s = strings[i % 1000]!;
      const len = Buffer.byteLength(s);
      o = b.writeInt16BE(len, o);
      o += b.write(s, o);
    }
    sink += o;
  });
  rows.push(['stringI16 (ASCII)', oursS, 'Buffer.byteLength+write', bufS]);

  console.log('best of reps, ns/op; ratio = reference / ours (> 1: ours faster)');
  console.log(`${'operation'.padEnd(20)} ${'ours'.padStart(9)}  ${'reference'.padEnd(24)} ${'ref'.padStart(9)}  ratio`);
  for (const [name, a, ref, b] of rows) {
    console.log(
      `${name.padEnd(20)} ${a.toFixed(1).padStart(9)}  ${ref.padEnd(24)} ${b.toFixed(1).padStart(9)}  ${(b / a).toFixed(2)}`,
    );
  }
  console.log(
    `histogram relative error on ${n} log-uniform values: p50 ${(100 * err(0.5)).toFixed(3)} %, p99 ${(100 * err(0.99)).toFixed(3)} %; bucket slots ${filled.bucketSlots} (${(filled.bucketSlots * 8) / 1024} KiB)`,
  );
  if (sink === 42) console.log('');
}
