// ZooKeeper's numbers, as its clients see them on the wire: operation codes, error codes, watch
// event types and connection states, permission bits and create modes. They are the data model's
// vocabulary as much as the wire's (a create's mode, a NoNode error, a NodeDataChanged event), so
// they live here in the coordination core, and src/wire/zookeeper imports them.
//
// Facts from ZooKeeper 3.8's public protocol (ZooDefs.OpCode, ZooDefs.Perms, KeeperException.Code,
// Watcher.Event, CreateMode, AddWatchMode, WatcherType); the values are fixed forever by every
// deployed client, so they are never renumbered here.

/** Request type in a RequestHeader (ZooDefs.OpCode). */
export const OpCode = {
  notification: 0,
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  setACL: 7,
  getChildren: 8,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  create2: 15,
  reconfig: 16,
  checkWatches: 17,
  removeWatches: 18,
  createContainer: 19,
  deleteContainer: 20,
  createTTL: 21,
  multiRead: 22,
  auth: 100,
  setWatches: 101,
  sasl: 102,
  getEphemerals: 103,
  getAllChildrenNumber: 104,
  setWatches2: 105,
  addWatch: 106,
  whoAmI: 107,
  createSession: -10,
  closeSession: -11,
  /** The type of a failed op inside a multi's reply (ErrorResult). */
  error: -1,
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

/** Reserved xids in RequestHeader/ReplyHeader. */
export const Xid = {
  notification: -1,
  ping: -2,
  auth: -4,
  setWatches: -8,
} as const;

/** KeeperException.Code: the `err` of a ReplyHeader (0 = OK). */
export const ZkErr = {
  ok: 0,
  systemError: -1,
  runtimeInconsistency: -2,
  dataInconsistency: -3,
  connectionLoss: -4,
  marshallingError: -5,
  unimplemented: -6,
  operationTimeout: -7,
  badArguments: -8,
  unknownSession: -12,
  newConfigNoQuorum: -13,
  reconfigInProgress: -14,
  apiError: -100,
  noNode: -101,
  noAuth: -102,
  badVersion: -103,
  noChildrenForEphemerals: -108,
  nodeExists: -110,
  notEmpty: -111,
  sessionExpired: -112,
  invalidCallback: -113,
  invalidACL: -114,
  authFailed: -115,
  closing: -116,
  nothing: -117,
  sessionMoved: -118,
  notReadOnly: -119,
  ephemeralOnLocalSession: -120,
  noWatcher: -121,
  requestTimeout: -122,
  reconfigDisabled: -123,
  sessionClosedRequireSaslAuth: -124,
  quotaExceeded: -125,
  throttledOp: -127,
} as const;
export type ZkErr = (typeof ZkErr)[keyof typeof ZkErr];

/** Watcher.Event.EventType: the `type` of a WatcherEvent. */
export const EventType = {
  none: -1,
  nodeCreated: 1,
  nodeDeleted: 2,
  nodeDataChanged: 3,
  nodeChildrenChanged: 4,
  dataWatchRemoved: 5,
  childWatchRemoved: 6,
  persistentWatchRemoved: 7,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** Watcher.Event.KeeperState: the `state` of a WatcherEvent. */
export const KeeperState = {
  disconnected: 0,
  syncConnected: 3,
  authFailed: 4,
  connectedReadOnly: 5,
  saslAuthenticated: 6,
  closed: 7,
  expired: -112,
} as const;
export type KeeperState = (typeof KeeperState)[keyof typeof KeeperState];

/** ZooDefs.Perms: bits of an ACL entry's `perms`. */
export const Perm = {
  read: 1,
  write: 2,
  create: 4,
  delete: 8,
  admin: 16,
  all: 31,
} as const;

/** CreateMode flags as a create request carries them. */
export const CreateMode = {
  persistent: 0,
  ephemeral: 1,
  persistentSequential: 2,
  ephemeralSequential: 3,
  container: 4,
  persistentWithTtl: 5,
  persistentSequentialWithTtl: 6,
} as const;
export type CreateMode = (typeof CreateMode)[keyof typeof CreateMode];

/** AddWatchMode of an addWatch request. */
export const AddWatchMode = {
  persistent: 0,
  persistentRecursive: 1,
} as const;

/** WatcherType of checkWatches/removeWatches. */
export const WatcherType = {
  children: 1,
  data: 2,
  any: 3,
} as const;
