// Which server packets answer one client command, sans-IO: the MySQL counterpart of PostgreSQL's
// ReadyForQuery. Fed each server message, it says when the response is complete, and keeps the server
// status flags of its last OK or EOF (in a transaction, autocommit, more results), from which a
// front end decides whether the server connection can go back to the pool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/payload_reader.hpp"
#include "backends/mysql/wire/prepared_statement.hpp"

namespace sluice::backends::mysql::wire {

class response_tracker {
 public:
  // What a server message meant for the response under way.
  enum class step {
    more,          // part of the response: more packets follow
    done,          // the response is complete; the server waits for the next command
    local_infile,  // LOAD DATA LOCAL: the client is to send the file; call on_infile_sent() after its end
    error,         // the server sent something the protocol does not allow here
  };

  // `caps`: the capabilities negotiated with the server (client_deprecate_eof and client_session_track
  // change the packets' shapes).
  explicit response_tracker(capabilities caps = 0) noexcept : caps_(caps) {}
  void set_capabilities(capabilities caps) noexcept { caps_ = caps; }

  // A command went to the server. False when it has no response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA,
  // COM_QUIT): the tracker stays idle. COM_CHANGE_USER's answer is an authentication exchange that the
  // login machine follows, not this tracker.
  bool on_command(std::uint8_t command) noexcept;
  // One whole server message: its payload's first chunk and the logical payload size (a row may span
  // several 16 MiB chunks; OK, ERR and EOF packets never do).
  step on_packet(bytes_view first_chunk, std::size_t payload_size) noexcept;
  // LOAD DATA LOCAL: the client's file and its closing empty packet went to the server; OK or ERR follows.
  void on_infile_sent() noexcept;

  bool idle() const noexcept { return state_ == state::idle; }
  // The status flags of the last OK or EOF (server_status_*). An ERR carries none: after one, the
  // flags are those of the packet before (a failed statement inside a transaction leaves it open;
  // when a deadlock rolled it back, the next OK says so).
  std::uint16_t status() const noexcept { return status_; }
  bool in_transaction() const noexcept { return (status_ & server_status_in_trans) != 0; }
  // The last response ended with ERR (or one of its results did: a multi-statement stops there).
  bool failed() const noexcept { return failed_; }
  // The message just fed was an OK packet (plain, or the 0xFE terminator under client_deprecate_eof)
  // that ended a result: its session-state block is the server's news. Rows that happen to start with
  // 0x00 are not OKs.
  bool last_was_ok() const noexcept { return last_was_ok_; }
  // After a COM_STMT_PREPARE answered with PREPARE_OK: the server's statement id and counts.
  const stmt_prepare_ok& prepared() const noexcept { return prepared_; }

 private:
  enum class state : std::uint8_t {
    idle,                // no response owed
    first,               // a result's first packet: OK, ERR, LOCAL INFILE request, or a column count
    columns,             // column definitions of a result set (left_ more)
    columns_eof,         // the EOF after them (without client_deprecate_eof)
    rows,                // rows, until EOF / OK terminator or ERR
    infile,              // LOCAL INFILE requested: the client sends its file, then OK or ERR comes
    prepare_first,       // COM_STMT_PREPARE: PREPARE_OK or ERR
    prepare_params,      // its parameter definitions (left_ more)
    prepare_params_eof,  // the EOF after them (without client_deprecate_eof)
    prepare_columns,     // its column definitions (left_ more)
    prepare_columns_eof, // the EOF after them (without client_deprecate_eof)
    generic,             // OK or ERR (COM_SET_OPTION without client_deprecate_eof: EOF)
    statistics,          // COM_STATISTICS: one string packet
    field_list,          // COM_FIELD_LIST: column definitions until EOF, or ERR
  };

  bool deprecate_eof() const noexcept { return (caps_ & client_deprecate_eof) != 0; }
  // An OK (or OK terminator) or EOF ended a result: keeps its status; another result follows when
  // server_more_results_exists is set.
  step result_end(bytes_view payload, bool ok_form) noexcept;
  step after_columns() noexcept;
  step prepare_after_params() noexcept;
  step prepare_after_columns() noexcept;

  capabilities caps_;
  state state_ = state::idle;
  std::uint64_t left_ = 0;  // definitions still to come in the current block
  std::uint16_t status_ = server_status_autocommit;
  bool failed_ = false;
  bool last_was_ok_ = false;
  bool statement_command_ = false;  // the command was COM_STMT_EXECUTE: a cursor ends it after metadata
  stmt_prepare_ok prepared_;
};

}  // namespace sluice::backends::mysql::wire
