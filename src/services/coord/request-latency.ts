// Request latency as ZooKeeper's 4lw report it (srvr/stat "Latency min/avg/max", mntr
// zk_min/avg/max_latency): ServerStats' AvgMinMaxCounter over every request a client sent, from
// the moment the node read it to the moment its reply went out, in whole milliseconds (ZooKeeper
// subtracts two Time.currentElapsedTime() readings). Pings and session creation count, as there;
// four-letter words do not. `srst` resets it. Pure: the caller passes the times.

export class RequestLatency {
  private count = 0;
  private total = 0;
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = Number.NEGATIVE_INFINITY;

  /** A request read at `receivedMs` and answered at `repliedMs` (monotonic ms; fractions dropped). */
  record(receivedMs: number, repliedMs: number): void {
    const ms = Math.floor(repliedMs) - Math.floor(receivedMs);
    // ZooKeeper logs and drops a negative latency (a clock that went back).
    if (!(ms >= 0)) return;
    this.count++;
    this.total += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** 0 before any request, as AvgMinMaxCounter.getMin. */
  get min(): number {
    return this.count === 0 ? 0 : this.minMs;
  }

  get max(): number {
    return this.count === 0 ? 0 : this.maxMs;
  }

  /** total / count rounded half up to 4 decimals (AvgMinMaxCounter.getAvg), 0 before any request. */
  get avg(): number {
    if (this.count === 0) return 0;
    return Math.round((this.total / this.count) * 10_000) / 10_000;
  }

  get requests(): number {
    return this.count;
  }

  reset(): void {
    this.count = 0;
    this.total = 0;
    this.minMs = Number.POSITIVE_INFINITY;
    this.maxMs = Number.NEGATIVE_INFINITY;
  }
}
