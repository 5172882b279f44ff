// scoring::end_of_last_record: the end of the WAL that exists, from an insert position (the value
// read-your-writes and switchover wait for replicas to replay).
#include "scoring/wal_position.hpp"

#include <catch2/catch.hpp>

using sluice::scoring::end_of_last_record;

TEST_CASE("end_of_last_record: an insert position just past a page header is the page's start") {
  // A fresh or idle cluster after a segment switch: pg_current_wal_insert_lsn() 0/5000028, replicas
  // replayed 0/5000000 (seen on the sandbox).
  CHECK(end_of_last_record(0x5000028) == 0x5000000);
  CHECK(end_of_last_record(0x5002018) == 0x5002000);  // short header of a page inside a segment
  CHECK(end_of_last_record(0x5000028 + 8192 * 3 - 40 + 24) == 0x5000000 + 8192 * 3);
}

TEST_CASE("end_of_last_record: any other position is where the last record ended") {
  CHECK(end_of_last_record(0x50012C8) == 0x50012C8);
  CHECK(end_of_last_record(0x5000000) == 0x5000000);  // a page boundary itself
  CHECK(end_of_last_record(0x5000030) == 0x5000030);  // 48: a record's end after a short header
  CHECK(end_of_last_record(0) == 0);
}
