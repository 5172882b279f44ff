// response_tracker: the response shapes of the MariaDB client/server protocol pages (COM_QUERY response,
// result sets, COM_STMT_PREPARE response, COM_STMT_EXECUTE with cursors, COM_STMT_FETCH, LOCAL INFILE).
#include "backends/mysql/wire/response_tracker.hpp"

#include "backends/mysql/wire/generic_response.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/mysql/wire/resultset.hpp"

namespace sluice::backends::mysql::wire {

bool response_tracker::on_command(std::uint8_t command) noexcept {
  failed_ = false;
  statement_command_ = command == com_stmt_execute;
  switch (command) {
    case com_quit:
    case com_stmt_close:
    case com_stmt_send_long_data:
      state_ = state::idle;
      return false;
    case com_query:
    case com_stmt_execute:
      state_ = state::first;
      return true;
    case com_stmt_fetch:
      state_ = state::rows;
      return true;
    case com_stmt_prepare:
      prepared_ = {};
      state_ = state::prepare_first;
      return true;
    case com_statistics:
      state_ = state::statistics;
      return true;
    case com_field_list:
      state_ = state::field_list;
      return true;
    default:
      // COM_PING, COM_INIT_DB, COM_STMT_RESET, COM_RESET_CONNECTION, COM_SET_OPTION, COM_PROCESS_KILL,
      // and commands the server refuses: OK or ERR.
      state_ = state::generic;
      return true;
  }
}

void response_tracker::on_infile_sent() noexcept {
  if (state_ == state::infile) state_ = state::first;
}

response_tracker::step response_tracker::result_end(bytes_view payload, bool ok_form) noexcept {
  std::uint16_t status = 0;
  if (ok_form) {
    ok_packet ok;
    if (decode_ok(payload, caps_, ok) != codec_errc::ok) return step::error;
    status = ok.status_flags;
  } else {
    eof_packet eof;
    if (decode_eof(payload, caps_, eof) != codec_errc::ok) return step::error;
    status = eof.status_flags;
  }
  status_ = status;
  last_was_ok_ = ok_form;
  if ((status & server_more_results_exists) != 0) {
    state_ = state::first;
    return step::more;
  }
  state_ = state::idle;
  return step::done;
}

response_tracker::step response_tracker::after_columns() noexcept {
  if (!deprecate_eof()) {
    state_ = state::columns_eof;
    return step::more;
  }
  state_ = state::rows;
  return step::more;
}

response_tracker::step response_tracker::prepare_after_params() noexcept {
  if (prepared_.num_columns == 0) {
    state_ = state::idle;
    return step::done;
  }
  left_ = prepared_.num_columns;
  state_ = state::prepare_columns;
  return step::more;
}

response_tracker::step response_tracker::prepare_after_columns() noexcept {
  state_ = state::idle;
  return step::done;
}

response_tracker::step response_tracker::on_packet(bytes_view first_chunk, std::size_t payload_size) noexcept {
  last_was_ok_ = false;
  if (first_chunk.empty()) return step::error;
  const std::uint8_t header = first_chunk[0];
  // A MariaDB progress report may come before any packet of a long statement (only to clients that
  // asked for it; sluice does not): it changes nothing.
  if (header == err_header && is_progress_report(first_chunk)) return state_ == state::idle ? step::error : step::more;
  // A whole OK, EOF or ERR packet is far below one chunk: its first chunk is its payload.
  const bool whole = first_chunk.size() == payload_size;
  const auto ended_by_error = [&]() {
    failed_ = true;
    state_ = state::idle;
    return step::done;
  };
  switch (state_) {
    case state::idle:
      return step::error;  // nothing is owed: an unsolicited packet
    case state::first:
      switch (classify_response(first_chunk, payload_size)) {
        case response_kind::ok:
          return whole ? result_end(first_chunk, true) : step::error;
        case response_kind::err:
          return ended_by_error();
        case response_kind::local_infile:
          state_ = state::infile;
          return step::local_infile;
        case response_kind::result_set: {
          column_count count;
          if (decode_column_count(first_chunk, caps_, count) != codec_errc::ok || count.count == 0) return step::error;
          left_ = count.count;
          state_ = state::columns;
          return step::more;
        }
        case response_kind::eof:
        case response_kind::progress_report:
        case response_kind::malformed:
          break;
      }
      return step::error;
    case state::columns:
      if (header == err_header) return ended_by_error();
      if (--left_ == 0) return after_columns();
      return step::more;
    case state::columns_eof: {
      if (header != eof_header || !whole) return step::error;
      eof_packet eof;
      if (decode_eof(first_chunk, caps_, eof) != codec_errc::ok) return step::error;
      status_ = eof.status_flags;
      // COM_STMT_EXECUTE that opened a cursor: the metadata is the whole answer; rows come by
      // COM_STMT_FETCH.
      if (statement_command_ && (eof.status_flags & server_status_cursor_exists) != 0) {
        state_ = state::idle;
        return step::done;
      }
      state_ = state::rows;
      return step::more;
    }
    case state::rows:
      switch (classify_resultset_packet(first_chunk, payload_size, caps_)) {
        case resultset_packet::row:
          return step::more;
        case resultset_packet::eof:
          return result_end(first_chunk, false);
        case resultset_packet::ok_terminator:
          return result_end(first_chunk, true);
        case resultset_packet::error:
          return ended_by_error();
        case resultset_packet::malformed:
          break;
      }
      return step::error;
    case state::infile:
      return step::error;  // the server waits for the client's file
    case state::prepare_first:
      if (header == err_header) return ended_by_error();
      if (header != ok_header || decode_stmt_prepare_ok(first_chunk, prepared_) != codec_errc::ok) return step::error;
      if (prepared_.num_params == 0) return prepare_after_params();
      left_ = prepared_.num_params;
      state_ = state::prepare_params;
      return step::more;
    case state::prepare_params:
      if (--left_ != 0) return step::more;
      if (!deprecate_eof()) {
        state_ = state::prepare_params_eof;
        return step::more;
      }
      return prepare_after_params();
    case state::prepare_params_eof:
      if (header != eof_header || !whole) return step::error;
      return prepare_after_params();
    case state::prepare_columns:
      if (--left_ != 0) return step::more;
      if (!deprecate_eof()) {
        state_ = state::prepare_columns_eof;
        return step::more;
      }
      return prepare_after_columns();
    case state::prepare_columns_eof:
      if (header != eof_header || !whole) return step::error;
      return prepare_after_columns();
    case state::generic:
      if (header == err_header) return ended_by_error();
      if (header == ok_header && whole) return result_end(first_chunk, true);
      // COM_SET_OPTION is answered with an EOF packet unless client_deprecate_eof was negotiated.
      if (header == eof_header && whole) return result_end(first_chunk, deprecate_eof());
      return step::error;
    case state::statistics:
      // A human-readable string packet (or ERR); either ends it.
      if (header == err_header) return ended_by_error();
      state_ = state::idle;
      return step::done;
    case state::field_list:
      if (header == err_header) return ended_by_error();
      // A column definition starts with the catalog's length, never 0xFE.
      if (header == eof_header && whole) return result_end(first_chunk, deprecate_eof());
      return step::more;
  }
  return step::error;
}

}  // namespace sluice::backends::mysql::wire
