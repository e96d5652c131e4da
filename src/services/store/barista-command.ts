// BARISTA: the store's own command, for what Redis has no word for (docs/COMPAT-REDIS.md):
//   BARISTA CONSISTENCY [ONE|QUORUM|ALL|ANY]   shows, or sets, this connection's level at N > 1
//   BARISTA SIBLINGS key                       every concurrent value of the key (N > 1)
//   BARISTA WHERE key                          the key's replicas in preference order (+ pending)
//   BARISTA CAS key expected new              update-if-equal through Paxos (N > 1): [1, new] or [0, current]
//   BARISTA REPAIR [node]                      starts an anti-entropy (Merkle) round from this node
//                                              now, with `node` or the next live one (N > 1)
//   BARISTA RING [JOIN node|LEAVE node|ABORT]  the token ring and a move's progress; a join, a
//                                              decommission, or cancelling the move (N > 1;
//                                              ring-mover.ts)
//   BARISTA CLEANUP [STATUS]                   deletes the keys this node no longer replicates
//                                              (after a move; Cassandra's nodetool cleanup), or
//                                              shows the pass: [running, scanned, dropped, passes]
// At N = 1 CONSISTENCY and SIBLINGS answer an error saying there is one replica; WHERE names the
// owner.

import { reply, type RespValue } from '../../wire/resp/index.ts';
import { serverCommand } from './connection-commands.ts';
import { CONSISTENCY_LEVELS, parseLevel } from './replicated.ts';
import { type Later, latin1, type ServerCommandSpec } from './command-entry.ts';
import type { RespSession } from './session.ts';

const USAGE =
  'ERR unknown subcommand or wrong number of arguments for BARISTA. Try CONSISTENCY [level], SIBLINGS key, WHERE key, CAS key expected new, REPAIR [node], RING [JOIN node|LEAVE node|ABORT], CLEANUP [STATUS]';

function run(session: RespSession, argv: readonly Uint8Array[]): RespValue | Later {
  const sub = latin1(argv[1]!).toLowerCase();
  const replicated = session.server.replicated;
  if (sub === 'consistency' && argv.length <= 3) {
    if (argv.length === 2) return reply.simple(session.consistency);
    if (replicated === undefined)
      return reply.error('ERR store.replication.replicas is 1: every key has one replica, there is no level to choose');
    const level = parseLevel(argv[2]!);
    if (level === undefined)
      return reply.error(`ERR consistency level must be one of ${CONSISTENCY_LEVELS.join(', ')}`);
    session.consistency = level;
    return reply.ok;
  }
  if (sub === 'siblings' && argv.length === 3) {
    if (replicated === undefined)
      return reply.error('ERR store.replication.replicas is 1: a key has no siblings (Redis semantics)');
    const level = session.consistency;
    return (done) => replicated.siblings(argv[2]!, level, done);
  }
  if (sub === 'cas' && argv.length === 5) {
    if (replicated === undefined)
      return reply.error('ERR store.replication.replicas is 1: use WATCH/MULTI/EXEC (Redis semantics)');
    return (done) => replicated.cas(argv[2]!, argv[3]!, argv[4]!, done);
  }
  if (sub === 'repair' && argv.length <= 3) {
    if (replicated === undefined)
      return reply.error('ERR store.replication.replicas is 1: every key has one replica, there is nothing to repair');
    return replicated.repair(argv.length === 3 ? latin1(argv[2]!) : undefined);
  }
  if (sub === 'ring' && argv.length <= 4) {
    if (replicated === undefined)
      return reply.error('ERR store.replication.replicas is 1: ring moves stream replicas, and N = 1 keeps one copy');
    const action = argv.length >= 3 ? latin1(argv[2]!).toLowerCase() : undefined;
    const node = argv.length === 4 ? latin1(argv[3]!) : undefined;
    return (done) => replicated.ring(action, node, done);
  }
  if (sub === 'cleanup' && argv.length <= 3) {
    if (replicated === undefined)
      return reply.error(
        'ERR store.replication.replicas is 1: a ring move hands keys over, nothing is left to clean up',
      );
    const status = argv.length === 3 && latin1(argv[2]!).toLowerCase() === 'status';
    if (argv.length === 3 && !status) return reply.error(USAGE);
    return replicated.cleanup(status);
  }
  if (sub === 'where' && argv.length === 3) {
    const where = session.server.where(argv[2]!);
    if (where === undefined) return reply.error('CLUSTERDOWN the token ring is not known yet');
    return reply.array([...where.replicas, ...where.pending].map((id) => reply.bulk(id)));
  }
  return reply.error(USAGE);
}

export const baristaCommand: ServerCommandSpec = serverCommand(
  'barista',
  -2,
  ['fast'],
  {
    group: 'server',
    since: '0.1.0',
    summary: "Baristas' own: the connection's consistency level, a key's siblings and replicas, anti-entropy",
  },
  run,
);
