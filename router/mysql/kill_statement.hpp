// Recognises MySQL's KILL statement (KILL [HARD | SOFT] [CONNECTION | QUERY] id) in a COM_QUERY, so that
// the MySQL front end can map the connection id, which is sluice's own, to the server connection
// running that client's query. Sans-IO, on the MySQL lexer.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::router::mysql {

struct kill_statement {
  enum class kind {
    not_kill,     // another statement
    kill,         // KILL [HARD|SOFT] [CONNECTION|QUERY] <id>
    unsupported,  // KILL USER name, KILL QUERY ID n, a non-numeric id ...: a KILL sluice cannot map
  };
  kind what = kind::not_kill;
  bool query_only = false;  // KILL QUERY: the statement stops, the connection stays
  std::uint64_t id = 0;     // the connection id (sluice's, from the client's handshake)
};

// Comments and whitespace around the statement and one trailing ';' are allowed (MariaDB KB, "KILL").
kill_statement parse_kill_statement(std::string_view sql) noexcept;

}  // namespace sluice::router::mysql
