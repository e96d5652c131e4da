// One interactive Debian zkCli.sh session per client, driven over stdin/stdout (a JVM per command
// would cost about a second each). Knows when each command has finished, bounds every wait, and
// collects the asynchronous watch notifications apart from command output.
//
// How zkCli behaves without a TTY (checked on Debian's 3.8.0): it prints "JLine support is disabled",
// reads plain lines from stdin, runs each command to completion on its main thread, and prints NO
// prompt — so there is no `[zk: host:port(CONNECTED) N]` to wait for, and no pty (`script -qfc`) is
// needed. The delimiter is our own: after every command we send `printwatches` (no argument), a
// purely local command that prints `printwatches is on|off` once the command before it is done.
// Command output goes to stdout and error messages ("Node already exists: /a") to stderr; both are
// merged onto one pipe (`exec ... 2>&1` in a shell) so their order is kept. The watcher thread prints
// "\nWATCHER::" and "\nWatchedEvent state:... type:... path:..." at any moment, even inside another
// command's output: those lines (and the blank line each carries) are taken out and kept in order in
// `events`. Limitation: a node whose data is the line "printwatches is on" would end a command early.
// If the test process dies, zkCli reads EOF on stdin and exits by itself: no JVM is left behind.

import { type ChildProcess, spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { zkCliPath } from './zookeeper-server.ts';

const commandMsMax = 20_000;
const connectMsMax = 30_000;
const exitMsMax = 10_000;
const outputBytesMax = 4 << 20;
const sentinelCommand = 'printwatches';
const sentinelLine = /^printwatches is (on|off)$/;
const watcherLine = /^WATCHER::$/;
const eventLine = /^WatchedEvent state:(\S+) type:(\S+) path:(.*)$/;

export interface ZkCliEvent {
  readonly state: string;
  readonly type: string;
  readonly path: string;
  /** The line as zkCli printed it. */
  readonly line: string;
}

export interface ZkCliStep {
  readonly command: string;
  readonly output: readonly string[];
}

export type ZkCliOutputItem =
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'sentinel'; readonly line: string }
  | { readonly kind: 'event'; readonly event: ZkCliEvent };

/**
 * zkCli's merged stdout/stderr byte stream -> lines, notifications and delimiters, for any chunking
 * (bytes are decoded as UTF-8 across chunk boundaries; SLF4J's start-up warnings are dropped).
 */
export class ZkCliOutput {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private heldBlank = false;

  constructor(private readonly sink: (item: ZkCliOutputItem) => void) {}

  feed(chunk: Buffer): void {
    const lines = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(line.replace(/\r$/, ''));
  }

  private onLine(line: string): void {
    if (line.startsWith('SLF4J:')) return;
    // printMessage() puts a blank line before WATCHER:: and before WatchedEvent: hold a blank line
    // until we know whether it belongs to a notification.
    if (line === '') {
      if (this.heldBlank) this.sink({ kind: 'line', line: '' });
      this.heldBlank = true;
      return;
    }
    const event = eventLine.exec(line);
    if (event !== null || watcherLine.test(line)) {
      this.heldBlank = false;
      if (event !== null)
        this.sink({ kind: 'event', event: { state: event[1]!, type: event[2]!, path: event[3]!, line } });
      return;
    }
    if (this.heldBlank) {
      this.heldBlank = false;
      this.sink({ kind: 'line', line: '' });
    }
    this.sink({ kind: sentinelLine.test(line) ? 'sentinel' : 'line', line });
  }
}

interface Pending {
  readonly command: string;
  readonly lines: string[];
  readonly resolve: (lines: string[]) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ZkCliSession {
  readonly events: ZkCliEvent[] = [];
  /** Every command run and its output (watch lines removed), in order. */
  readonly transcript: ZkCliStep[] = [];
  /** Lines printed before the first command (banner, "Connecting to ..."). */
  readonly preamble: string[] = [];
  private readonly child: ChildProcess;
  private readonly queue: Pending[] = [];
  private readonly output = new ZkCliOutput((item) => this.onOutput(item));
  private receivedBytes = 0;
  private exitError: Error | undefined;
  private readonly exited: Promise<void>;
  private readonly eventWaiters: Array<() => void> = [];
  private closing: Promise<void> | undefined;

  private constructor(connectString: string) {
    // -XX:TieredStopAtLevel=1: a short-lived client JVM starts faster on the C1 compiler alone.
    const env = { ...process.env, CLIENT_JVMFLAGS: '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m' };
    this.child = spawn('sh', ['-c', 'exec "$0" "$@" 2>&1', zkCliPath, '-server', connectString], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      if (this.receivedBytes > outputBytesMax) this.child.kill('SIGKILL');
      else this.output.feed(chunk);
    });
    this.child.stdin!.on('error', () => {
      // EPIPE after the JVM exits: the exit handler below reports it to whoever waits.
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitError = new Error(`zkCli exited (${code ?? signal})`);
        for (const p of this.queue.splice(0)) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.exitError.message} while running "${p.command}"`));
        }
        for (const w of this.eventWaiters.splice(0)) w();
        resolve();
      });
    });
  }

  /** Starts zkCli and waits (bounded) for its SyncConnected notification. */
  static async open(connectString: string): Promise<ZkCliSession> {
    const s = new ZkCliSession(connectString);
    try {
      await s.waitForEvent((e) => e.state === 'SyncConnected' && e.type === 'None', connectMsMax);
    } catch (err) {
      await s.close();
      throw new Error(`${String(err)}; zkCli printed:\n${s.preamble.join('\n')}`);
    }
    return s;
  }

  /** Runs one command and returns its output lines (without watch notifications). */
  run(command: string): Promise<string[]> {
    if (/[\r\n]/.test(command)) throw new Error('a zkCli command is one line');
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`zkCli: "${command}" did not finish within ${commandMsMax} ms`));
        void this.close();
      }, commandMsMax);
      this.queue.push({ command, lines: [], resolve, reject, timer });
      this.child.stdin!.write(`${command}\n${sentinelCommand}\n`);
    }).then((lines) => {
      this.transcript.push({ command, output: lines });
      return lines;
    });
  }

  /** Waits (bounded) until an event matching `match` has arrived (now or earlier); returns the first. */
  async waitForEvent(match: (e: ZkCliEvent) => boolean, boundMs = commandMsMax): Promise<ZkCliEvent> {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const found = this.events.find(match);
      if (found !== undefined) return found;
      if (this.exitError !== undefined) throw new Error(`${this.exitError.message} before the awaited event`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`zkCli: awaited event did not arrive within ${boundMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.eventWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends `quit` (closes the ZooKeeper session), waits for the JVM, kills it past a bound. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return;
      this.child.stdin!.end('quit\n');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), exitMsMax);
      await this.exited;
      clearTimeout(killer);
    })();
    return this.closing;
  }

  private onOutput(item: ZkCliOutputItem): void {
    if (item.kind === 'event') {
      this.events.push(item.event);
      for (const w of this.eventWaiters.splice(0)) w();
    } else if (item.kind === 'sentinel' && this.queue.length > 0) {
      const done = this.queue.shift()!;
      clearTimeout(done.timer);
      done.resolve(done.lines);
    } else {
      this.emit(item.line);
    }
  }

  private emit(line: string): void {
    const current = this.queue[0];
    if (current === undefined) this.preamble.push(line);
    else current.lines.push(line);
  }
}
