// WAL positions as a primary reports them and as replicas replay them (no I/O): the end of the WAL that
// exists, from pg_current_wal_insert_lsn().
#pragma once

#include <cstdint>

namespace sluice::scoring {

inline constexpr std::uint64_t wal_page_size = 8192;     // XLOG_BLCKSZ (PostgreSQL's default build)
inline constexpr std::uint64_t short_page_header = 24;  // SizeOfXLogShortPHD
inline constexpr std::uint64_t long_page_header = 40;   // SizeOfXLogLongPHD (first page of a segment)

// pg_current_wal_insert_lsn() names where the next record starts: just past a page header when the last
// record ended at a page boundary (a segment switch, say), while a replica's replay position is where
// that record ended. Waiting for the former would wait for a record that may never come (an idle
// primary). No record ends at those offsets (a record is at least 24 bytes and follows the header), so a
// position there is always such a one.
constexpr std::uint64_t end_of_last_record(std::uint64_t insert_lsn) noexcept {
  const auto offset = insert_lsn % wal_page_size;
  if (offset == short_page_header || offset == long_page_header) return insert_lsn - offset;
  return insert_lsn;
}

}  // namespace sluice::scoring
