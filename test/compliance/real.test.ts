// Goal: the real Env's Transport (TcpTransport over loopback) and Disk (FileDisk on a temp
// directory) pass the same compliance suites the simulator passes (test/compliance/sim.test.ts),
// so code proven in simulation runs unchanged on real sockets and files.
// Ports: every transport listens on port 0 and the harness wires peers to the bound ports, so
// parallel test files never collide. Temp directories are removed after each case.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDisk } from '../../src/storage/file-disk.ts';
import { type DiskHarness, diskCompliance } from './disk-suite.ts';

const fileDiskHarness: DiskHarness = {
  async setup() {
    const root = mkdtempSync(join(tmpdir(), 'baristas-disk-compliance-'));
    let disk = new FileDisk({ root });
    return {
      get disk() {
        return disk;
      },
      async crash() {
        disk.closeAll();
        disk = new FileDisk({ root });
        return disk;
      },
      async teardown() {
        disk.closeAll();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
};

diskCompliance('FileDisk', fileDiskHarness);
