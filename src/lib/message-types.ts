// Peer message type numbers, one range per protocol, so a frame's type says which core it is for.
// Never reuse a retired number. The transport envelope carries the type next to its own version.

export const MessageType = {
  // 0x00xx: transport-level
  TransportError: 0x0001,
  /** First frame on every peer connection: identifies the sender; consumed by the transport. */
  TransportHello: 0x0002,
  // 0x01xx: membership
  MembershipPing: 0x0101,
  MembershipAck: 0x0102,
  /** "I know you at a higher incarnation": the answer to a ping from a stale incarnation. */
  MembershipStale: 0x0103,
  // 0x02xx: raft (metadata group)
  Raft: 0x0201,
  RaftClientRequest: 0x0202,
  RaftClientResponse: 0x0203,
  /** Membership change (operator's, forwarded to the leader) or a rejoining node's request. */
  RaftMemberRequest: 0x0204,
  // 0x03xx: coordination service (src/services/coord)
  /** A follower's batch of ZooKeeper session touches for the coord group's leader. */
  CoordTouches: 0x0301,
  // 0x04xx: Dynamo-style store (src/services/store/replication)
  /** One message of the replica protocol (src/dynamo/messages.ts: its own version and type tag). */
  DynamoReplica: 0x0401,
  /** One message of the per-key Paxos (src/dynamo/paxos-messages.ts: SERIAL reads, writes and CAS). */
  DynamoPaxos: 0x0402,
  // 0x05xx: the store's Redis front end (src/services/store)
  /** A Redis command forwarded to the node owning its key (N = 1), and its reply. */
  StoreForward: 0x0501,
  StoreForwardReply: 0x0502,
  /** A node's RESP endpoint (host, port) for cluster-aware clients' slot maps (announce.ts). */
  StoreAnnounce: 0x0503,
  /** A PUBLISH fanned out to every other node (best effort, at most once, as Redis Cluster's bus). */
  StorePublish: 0x0504,
  // 0x7fxx: test-only traffic (compliance suites, benchmarks)
  TestEcho: 0x7f01,
  TestBulk: 0x7f02,
} as const;

export type MessageTypeName = keyof typeof MessageType;
