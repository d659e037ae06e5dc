// Checks on the first 100 bytes of an uploaded file and its size, before SQLite opens it.
//
// SQLite itself does not catch a truncated upload: a file cut inside its last page, or with
// bytes appended, passes both `quick_check` and `integrity_check`, and an empty file opens as a
// valid empty database. Comparing the file size with the page size and the in-header page
// count is the only check that caught every case we reproduced. The layout is described in
// https://www.sqlite.org/fileformat2.html#the_database_header.

import { failure, type TaskResult } from './result.js'

/** The 16-byte string every SQLite 3 database starts with ("SQLite format 3" and a NUL). */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/** The two magic numbers a -wal file starts with (big-endian checksums, or little-endian). */
const WAL_MAGICS = [0x377f0682, 0x377f0683]

/** A database header is exactly this long. */
export const HEADER_BYTES = 100

/**
 * The journal mode a header records: bytes 18 and 19 (write and read format versions) are both
 * 2 in WAL mode and 1 with a rollback journal.
 */
export function journalModeOfHeader (head: Buffer): 'wal' | 'rollback' | 'unknown' {
  if (head.length < 20) return 'unknown'
  return head[18] === 2 && head[19] === 2 ? 'wal' : 'rollback'
}

export interface HeaderInfo {
  pageSize: number
  pageCount: number
  walMode: boolean
}

export function checkHeader (head: Buffer, fileSize: number): TaskResult<HeaderInfo> {
  if (fileSize === 0) {
    return failure('HOTSWAP_ERR_EMPTY', 'the file is empty (0 bytes)')
  }
  // A -wal file is a plausible thing to upload by mistake (it sits right beside the database
  // and has a similar name), so it gets its own message.
  if (head.length >= 4 && WAL_MAGICS.includes(head.readUInt32BE(0))) {
    return failure('HOTSWAP_ERR_NOT_SQLITE',
      'the file looks like a SQLite -wal file, not a database: copy the database file itself')
  }
  if (head.length < HEADER_BYTES || fileSize < HEADER_BYTES) {
    return failure('HOTSWAP_ERR_NOT_SQLITE',
      `the file is ${fileSize} bytes, shorter than a SQLite header (${HEADER_BYTES} bytes)`)
  }
  if (!head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    return failure('HOTSWAP_ERR_NOT_SQLITE', 'the file does not start with the SQLite header magic')
  }

  // Offset 16, big-endian u16: the page size, where 1 stands for 65536 (it does not fit).
  const rawPageSize = head.readUInt16BE(16)
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return failure('HOTSWAP_ERR_NOT_SQLITE',
      `the header has an invalid page size (${rawPageSize}); SQLite uses a power of two from 512 to 65536`)
  }

  // Bytes 18 and 19 are the write and read format versions: 2 means WAL, 1 rollback journal,
  // and SQLite always writes them together. It opens a file whose write version is above 2
  // read-only and refuses one whose read version is; a 2 beside anything else is no state it
  // writes. Installed, such a file (found by fuzzing: integrity_check passes) left production
  // read-only, or in a journal mode other than the live one's.
  const writeVersion = head.readUInt8(18)
  const readVersion = head.readUInt8(19)
  if (writeVersion > 2 || readVersion > 2 || (writeVersion === 2) !== (readVersion === 2)) {
    return failure('HOTSWAP_ERR_NOT_SQLITE',
      `the header's file format versions (bytes 18-19) are ${writeVersion} and ${readVersion}; SQLite writes 1 and 1 (rollback journal) or 2 and 2 (WAL)`)
  }
  // Offset 44: the schema format number, 1 to 4 (0 before any schema exists). SQLite refuses a
  // higher one only when it first reads the schema, with a generic SQLITE_ERROR.
  const schemaFormat = head.readUInt32BE(44)
  if (schemaFormat > 4) {
    return failure('HOTSWAP_ERR_NOT_SQLITE', `the header's schema format number is ${schemaFormat}; SQLite knows 1 to 4`)
  }
  const walMode = journalModeOfHeader(head) === 'wal'

  // The page count at offset 28 is trusted only when the change counter (offset 24) equals
  // the version-valid-for number (offset 92). Versions of SQLite before 3.7.0 did not keep it
  // up to date; for those files the size only has to be a whole number of pages.
  const changeCounter = head.readUInt32BE(24)
  const validFor = head.readUInt32BE(92)
  if (changeCounter === validFor) {
    const pageCount = head.readUInt32BE(28)
    const expected = pageSize * pageCount
    if (fileSize !== expected) {
      return failure('HOTSWAP_ERR_TRUNCATED',
        `file is ${fileSize} bytes but its header says ${pageCount} pages of ${pageSize} bytes (${expected})`)
    }
    return { ok: true, value: { pageSize, pageCount, walMode } }
  }
  if (fileSize % pageSize !== 0) {
    return failure('HOTSWAP_ERR_TRUNCATED',
      `file is ${fileSize} bytes, which is not a whole number of ${pageSize}-byte pages`)
  }
  return { ok: true, value: { pageSize, pageCount: fileSize / pageSize, walMode } }
}
