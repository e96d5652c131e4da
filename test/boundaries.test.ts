// Goal: the layering holds (issue 8 acceptance; ../shared/STYLE.md habit 1). Services depend on
// the platform, never the other way round; cores never import I/O layers or the node; a wire
// front end reaches a service only through its public API. This test reads every non-test source
// file's relative imports and checks them against the rules below; a hit names file -> import.
//   cores      CORE_DIRS (test/source-files.ts): src/lib, src/raft, src/rsm, src/membership, src/metadata,
//              src/sim, src/metrics, src/check/models, src/coord, src/crdt, src/dynamo, src/redis
//              never import src/net, src/storage, src/node, src/services, src/wire, src/cli
//              (except CORE_ALLOWED: src/redis may import src/storage/lsm and src/wire/resp)
//   platform   nothing outside src/services, src/wire and src/cli imports src/services, except the
//              one list src/node/registry.ts
//   services   src/services/A never imports src/services/B (shared code belongs to the platform)
//   wire       src/wire/P never imports src/wire/Q (src/wire/*.ts is shared), nor a service's
//              files other than its api.ts
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { CORE_DIRS, sourceFiles } from './source-files.ts';

const CORES = CORE_DIRS;
const CORE_FORBIDDEN = ['src/net', 'src/storage', 'src/node', 'src/services', 'src/wire', 'src/cli'];
/**
 * Pure modules of a forbidden layer one core may import: the Redis data model (src/redis) is the
 * typed keyspace over the LSM engine (src/storage/lsm, pure: I/O only through the Env's Disk) and
 * answers RESP reply values (src/wire/resp, pure). Both are in test/purity.test.ts' scan.
 */
const CORE_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'src/redis': ['src/storage/lsm', 'src/wire/resp'],
};
const REGISTRY = 'src/node/registry.ts';

/** Repo-relative paths of the modules `text` (the file at `file`) imports by a relative path. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)];
  return specs.map((m) =>
    relative('.', normalize(join(dirname(file), m[1]!)))
      .split('\\')
      .join('/'),
  );
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);
const top = (path: string, dir: string): string | undefined =>
  under(path, dir) ? path.slice(dir.length + 1).split('/')[0] : undefined;

/** The rule an import from `file` to `target` breaks, or undefined. */
export function violation(file: string, target: string): string | undefined {
  if (CORES.some((c) => under(file, c))) {
    const bad = CORE_FORBIDDEN.find((d) => under(target, d));
    const core = CORES.find((c) => under(file, c))!;
    const allowed = (CORE_ALLOWED[core] ?? []).some((d) => under(target, d));
    if (bad !== undefined && !allowed) return `a core imports ${bad}`;
  }
  const inServices = under(file, 'src/services');
  const inWire = under(file, 'src/wire');
  if (under(target, 'src/services') && !inServices && !inWire && !under(file, 'src/cli') && file !== REGISTRY)
    return 'the platform imports a service (only src/node/registry.ts may)';
  if (inServices && under(target, 'src/services') && top(file, 'src/services') !== top(target, 'src/services'))
    return "a service imports another service's internals";
  if (inWire) {
    // Files directly in src/wire (the request pipeline) are shared by every protocol.
    const protocolDir = target.slice('src/wire/'.length).includes('/');
    if (under(target, 'src/wire') && protocolDir && top(file, 'src/wire') !== top(target, 'src/wire'))
      return 'a wire front end imports another protocol';
    if (under(target, 'src/services') && !target.endsWith('/api.ts'))
      return "a wire front end imports a service's internals (only its api.ts)";
  }
  return undefined;
}

test('imports respect the layering: cores, platform, services, wire', () => {
  const hits: string[] = [];
  for (const file of sourceFiles('src')) {
    const path = file.split('\\').join('/');
    for (const target of importsOf(path, readFileSync(file, 'utf8'))) {
      const why = violation(path, target);
      if (why !== undefined) hits.push(`${path} -> ${target}: ${why}`);
    }
  }
  assert.deepEqual(hits, [], `layering broken:\n${hits.join('\n')}`);
});

test('the boundary rules catch each kind of violation', () => {
  // One line per rule, as a file would write it; each must be refused, and its allowed twin accepted.
  const cases: Array<[string, string, boolean]> = [
    ['src/raft/raft.ts', "import { x } from '../storage/wal/wal.ts';", false],
    ['src/metadata/kv.ts', "import type { X } from '../node/service.ts';", false],
    ['src/raft/raft.ts', "import { x } from '../lib/assert.ts';", true],
    ['src/redis/keyspace.ts', "import type { LsmEngine } from '../storage/lsm/engine.ts';", true],
    ['src/redis/keyspace.ts', "import { x } from '../storage/wal/wal.ts';", false],
    ['src/redis/command.ts', "import type { RespValue } from '../wire/resp/index.ts';", true],
    ['src/redis/command.ts', "import { x } from '../net/tcp.ts';", false],
    ['src/node/main.ts', "import { kvService } from '../services/kv/service.ts';", false],
    ['src/node/registry.ts', "import { kvService } from '../services/kv/service.ts';", true],
    ['src/services/kv/service.ts', "import { x } from '../membership/http.ts';", false],
    ['src/services/kv/service.ts', "import { x } from './http.ts';", true],
    ['src/wire/resp/session.ts', "import { x } from '../../services/kv/running.ts';", false],
    ['src/wire/resp/session.ts', "import { x } from '../../services/kv/api.ts';", true],
    ['src/wire/resp/session.ts', "import { x } from '../etcd/codec.ts';", false],
    ['src/wire/resp/session.ts', "import { x } from '../pipeline.ts';", true],
  ];
  for (const [file, line, allowed] of cases) {
    const targets = importsOf(file, line);
    assert.equal(targets.length, 1, line);
    assert.equal(violation(file, targets[0]!) === undefined, allowed, `${file}: ${line}`);
  }
});
