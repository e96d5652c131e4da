// WAL segment files: the Raft WAL's view of the generic log's segments (src/storage/log/segment.ts,
// where the scan and the rules for the never-synced tail live). A WAL segment is named
// `<seq>-<firstIndex>.wal`: the log's `base` is the index the next entry had when the segment was
// created (lastIndex + 1), so old segments are released by index.

import { type ScannedSegment, type ScanOptions, scanSegment as scanLogSegment } from '../log/segment.ts';
import { type WalClientRecord, walCodec } from './record.ts';

export {
  HEAD_ZERO_PIECE_BYTES_MIN,
  SEGMENT_TEMP_SUFFIX,
  TEAR_SECTOR_BYTES,
  TEAR_ZERO_PIECE_BYTES_MIN,
  zeroPieces,
} from '../log/segment.ts';

/** File name suffix of WAL segments. */
export const WAL_SEGMENT_SUFFIX = '.wal';

/** Scans one WAL segment's bytes (see src/storage/log/segment.ts for what it proves and cuts). */
export function scanSegment(
  bytes: Uint8Array,
  options: Omit<ScanOptions<WalClientRecord>, 'codec'>,
): ScannedSegment<WalClientRecord> {
  return scanLogSegment(bytes, { ...options, codec: walCodec });
}
