// Durable directory creation. Disk.mkdirp does not sync the directories it creates: a crash may
// take a new directory — and every file created inside it — away, even after those files' own
// syncDir. So a store creates its directory through here, which syncs each parent in turn.

import type { Disk } from '../../env/types.ts';

/** mkdirp + syncDir of every ancestor, root first, so the whole path survives a crash. */
export function mkdirpDurable(disk: Disk, dir: string): void {
  disk.mkdirp(dir);
  const parts = dir.split('/').filter((p) => p.length > 0);
  for (let i = 0; i < parts.length; i++) disk.syncDir(parts.slice(0, i).join('/'));
}
