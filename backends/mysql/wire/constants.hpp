// Named constants of the MySQL/MariaDB client/server protocol: capability and status flags, command
// bytes, packet header bytes, column types and flags, session-tracker types. Names are the protocol's
// own (CLIENT_DEPRECATE_EOF -> client_deprecate_eof) so they can be looked up in the server sources.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::backends::mysql::wire {

// A negotiated capability set: the low 32 bits are MySQL's CLIENT_* flags, the high 32 bits MariaDB's
// extended capabilities (sent in the handshake's last four filler bytes when client_mysql is unset).
using capabilities = std::uint64_t;

// ---- capability flags (MySQL include/mysql_com.h, MariaDB include/mysql_com.h) ----
inline constexpr capabilities client_long_password = 1ULL << 0;  // MariaDB calls it CLIENT_MYSQL: unset = MariaDB server
inline constexpr capabilities client_mysql = client_long_password;
inline constexpr capabilities client_found_rows = 1ULL << 1;      // affected rows = rows matched, not changed
inline constexpr capabilities client_long_flag = 1ULL << 2;       // all column flags
inline constexpr capabilities client_connect_with_db = 1ULL << 3; // database name in HandshakeResponse
inline constexpr capabilities client_no_schema = 1ULL << 4;       // db.table.col not allowed
inline constexpr capabilities client_compress = 1ULL << 5;        // compressed protocol
inline constexpr capabilities client_odbc = 1ULL << 6;            // unused
inline constexpr capabilities client_local_files = 1ULL << 7;     // LOAD DATA LOCAL INFILE
inline constexpr capabilities client_ignore_space = 1ULL << 8;    // spaces before '('
inline constexpr capabilities client_protocol_41 = 1ULL << 9;     // 4.1 protocol (SQLSTATE in ERR, warnings in OK/EOF)
inline constexpr capabilities client_interactive = 1ULL << 10;    // interactive_timeout applies
inline constexpr capabilities client_ssl = 1ULL << 11;            // switch to TLS after the SSLRequest
inline constexpr capabilities client_ignore_sigpipe = 1ULL << 12; // client-side only
inline constexpr capabilities client_transactions = 1ULL << 13;   // status flags in OK
inline constexpr capabilities client_reserved = 1ULL << 14;       // old 4.1 protocol flag
inline constexpr capabilities client_secure_connection = 1ULL << 15;  // 1-byte-length auth response
inline constexpr capabilities client_multi_statements = 1ULL << 16;
inline constexpr capabilities client_multi_results = 1ULL << 17;
inline constexpr capabilities client_ps_multi_results = 1ULL << 18;
inline constexpr capabilities client_plugin_auth = 1ULL << 19;
inline constexpr capabilities client_connect_attrs = 1ULL << 20;
inline constexpr capabilities client_plugin_auth_lenenc_client_data = 1ULL << 21;
inline constexpr capabilities client_can_handle_expired_passwords = 1ULL << 22;
inline constexpr capabilities client_session_track = 1ULL << 23;
inline constexpr capabilities client_deprecate_eof = 1ULL << 24;  // OK (0xFE) instead of EOF packets
inline constexpr capabilities client_optional_resultset_metadata = 1ULL << 25;  // MySQL 8, not negotiated
inline constexpr capabilities client_zstd_compression_algorithm = 1ULL << 26;   // MySQL 8, not negotiated
inline constexpr capabilities client_query_attributes = 1ULL << 27;             // MySQL 8, not negotiated
inline constexpr capabilities client_multi_factor_authentication = 1ULL << 28;  // MySQL 8, not negotiated
inline constexpr capabilities client_capability_extension = 1ULL << 29;
inline constexpr capabilities client_ssl_verify_server_cert = 1ULL << 30;
inline constexpr capabilities client_remember_options = 1ULL << 31;

// MariaDB extended capabilities (the high half of `capabilities`).
inline constexpr capabilities mariadb_client_progress = 1ULL << 32;               // progress reports (ERR 0xFFFF)
inline constexpr capabilities mariadb_client_com_multi = 1ULL << 33;              // COM_MULTI (removed in 10.6)
inline constexpr capabilities mariadb_client_stmt_bulk_operations = 1ULL << 34;   // COM_STMT_BULK_EXECUTE
inline constexpr capabilities mariadb_client_extended_metadata = 1ULL << 35;      // extended type info in column defs
inline constexpr capabilities mariadb_client_cache_metadata = 1ULL << 36;         // metadata skipped when unchanged
inline constexpr capabilities mariadb_client_bulk_unit_results = 1ULL << 37;      // per-row bulk results (11.5)

// ---- server status flags (OK, EOF, handshake) ----
inline constexpr std::uint16_t server_status_in_trans = 1U << 0;
inline constexpr std::uint16_t server_status_autocommit = 1U << 1;
inline constexpr std::uint16_t server_more_results_exists = 1U << 3;
inline constexpr std::uint16_t server_query_no_good_index_used = 1U << 4;
inline constexpr std::uint16_t server_query_no_index_used = 1U << 5;
inline constexpr std::uint16_t server_status_cursor_exists = 1U << 6;
inline constexpr std::uint16_t server_status_last_row_sent = 1U << 7;
inline constexpr std::uint16_t server_status_db_dropped = 1U << 8;
inline constexpr std::uint16_t server_status_no_backslash_escapes = 1U << 9;
inline constexpr std::uint16_t server_status_metadata_changed = 1U << 10;
inline constexpr std::uint16_t server_query_was_slow = 1U << 11;
inline constexpr std::uint16_t server_ps_out_params = 1U << 12;
inline constexpr std::uint16_t server_status_in_trans_readonly = 1U << 13;
inline constexpr std::uint16_t server_session_state_changed = 1U << 14;
inline constexpr std::uint16_t server_status_ansi_quotes = 1U << 15;  // MariaDB: sql_mode has ANSI_QUOTES

// ---- command bytes (first payload byte of a client packet in the command phase) ----
inline constexpr std::uint8_t com_sleep = 0x00;
inline constexpr std::uint8_t com_quit = 0x01;
inline constexpr std::uint8_t com_init_db = 0x02;
inline constexpr std::uint8_t com_query = 0x03;
inline constexpr std::uint8_t com_field_list = 0x04;
inline constexpr std::uint8_t com_create_db = 0x05;
inline constexpr std::uint8_t com_drop_db = 0x06;
inline constexpr std::uint8_t com_refresh = 0x07;
inline constexpr std::uint8_t com_shutdown = 0x08;
inline constexpr std::uint8_t com_statistics = 0x09;
inline constexpr std::uint8_t com_process_info = 0x0a;
inline constexpr std::uint8_t com_connect = 0x0b;
inline constexpr std::uint8_t com_process_kill = 0x0c;
inline constexpr std::uint8_t com_debug = 0x0d;
inline constexpr std::uint8_t com_ping = 0x0e;
inline constexpr std::uint8_t com_time = 0x0f;
inline constexpr std::uint8_t com_delayed_insert = 0x10;
inline constexpr std::uint8_t com_change_user = 0x11;
inline constexpr std::uint8_t com_binlog_dump = 0x12;
inline constexpr std::uint8_t com_table_dump = 0x13;
inline constexpr std::uint8_t com_connect_out = 0x14;
inline constexpr std::uint8_t com_register_slave = 0x15;
inline constexpr std::uint8_t com_stmt_prepare = 0x16;
inline constexpr std::uint8_t com_stmt_execute = 0x17;
inline constexpr std::uint8_t com_stmt_send_long_data = 0x18;
inline constexpr std::uint8_t com_stmt_close = 0x19;
inline constexpr std::uint8_t com_stmt_reset = 0x1a;
inline constexpr std::uint8_t com_set_option = 0x1b;
inline constexpr std::uint8_t com_stmt_fetch = 0x1c;
inline constexpr std::uint8_t com_daemon = 0x1d;
inline constexpr std::uint8_t com_binlog_dump_gtid = 0x1e;
inline constexpr std::uint8_t com_reset_connection = 0x1f;
inline constexpr std::uint8_t com_stmt_bulk_execute = 0xfa;  // MariaDB

// COM_SET_OPTION operations.
inline constexpr std::uint16_t mysql_option_multi_statements_on = 0;
inline constexpr std::uint16_t mysql_option_multi_statements_off = 1;

// ---- response header bytes ----
inline constexpr std::uint8_t ok_header = 0x00;
inline constexpr std::uint8_t auth_more_data_header = 0x01;
inline constexpr std::uint8_t local_infile_header = 0xfb;
inline constexpr std::uint8_t eof_header = 0xfe;          // EOF, OK-as-EOF, AuthSwitchRequest
inline constexpr std::uint8_t auth_switch_header = 0xfe;
inline constexpr std::uint8_t err_header = 0xff;
inline constexpr std::uint8_t binary_row_header = 0x00;

// ERR: SQLSTATE marker and MariaDB's progress-report error number.
inline constexpr char sqlstate_marker = '#';
inline constexpr std::size_t sqlstate_size = 5;
inline constexpr std::uint16_t progress_report_errno = 0xffff;

// EOF packets are shorter than this (header + warnings + status = 5 bytes); OK packets are at least 7.
inline constexpr std::size_t eof_max_payload = 9;

// Handshake.
inline constexpr std::uint8_t protocol_version_10 = 10;
inline constexpr std::size_t auth_plugin_data_part1_size = 8;
inline constexpr std::size_t auth_plugin_data_part2_min_size = 12;  // plus a NUL the server appends
inline constexpr std::size_t handshake_reserved_size = 6;           // zero filler before MariaDB caps
inline constexpr std::size_t handshake_response_filler_size = 19;   // zero filler before MariaDB caps
inline constexpr std::size_t ssl_request_size = 32;                 // caps, max packet, charset, 23 zeros
inline constexpr std::size_t native_password_scramble_size = 20;

// Character-set numbers used by default.
inline constexpr std::uint8_t charset_utf8mb4_general_ci = 45;
inline constexpr std::uint8_t charset_binary = 63;

// ---- column types (enum_field_types) ----
inline constexpr std::uint8_t mysql_type_decimal = 0x00;
inline constexpr std::uint8_t mysql_type_tiny = 0x01;
inline constexpr std::uint8_t mysql_type_short = 0x02;
inline constexpr std::uint8_t mysql_type_long = 0x03;
inline constexpr std::uint8_t mysql_type_float = 0x04;
inline constexpr std::uint8_t mysql_type_double = 0x05;
inline constexpr std::uint8_t mysql_type_null = 0x06;
inline constexpr std::uint8_t mysql_type_timestamp = 0x07;
inline constexpr std::uint8_t mysql_type_longlong = 0x08;
inline constexpr std::uint8_t mysql_type_int24 = 0x09;
inline constexpr std::uint8_t mysql_type_date = 0x0a;
inline constexpr std::uint8_t mysql_type_time = 0x0b;
inline constexpr std::uint8_t mysql_type_datetime = 0x0c;
inline constexpr std::uint8_t mysql_type_year = 0x0d;
inline constexpr std::uint8_t mysql_type_newdate = 0x0e;
inline constexpr std::uint8_t mysql_type_varchar = 0x0f;
inline constexpr std::uint8_t mysql_type_bit = 0x10;
inline constexpr std::uint8_t mysql_type_timestamp2 = 0x11;
inline constexpr std::uint8_t mysql_type_datetime2 = 0x12;
inline constexpr std::uint8_t mysql_type_time2 = 0x13;
inline constexpr std::uint8_t mysql_type_json = 0xf5;
inline constexpr std::uint8_t mysql_type_newdecimal = 0xf6;
inline constexpr std::uint8_t mysql_type_enum = 0xf7;
inline constexpr std::uint8_t mysql_type_set = 0xf8;
inline constexpr std::uint8_t mysql_type_tiny_blob = 0xf9;
inline constexpr std::uint8_t mysql_type_medium_blob = 0xfa;
inline constexpr std::uint8_t mysql_type_long_blob = 0xfb;
inline constexpr std::uint8_t mysql_type_blob = 0xfc;
inline constexpr std::uint8_t mysql_type_var_string = 0xfd;
inline constexpr std::uint8_t mysql_type_string = 0xfe;
inline constexpr std::uint8_t mysql_type_geometry = 0xff;

// Parameter type's second byte in COM_STMT_EXECUTE.
inline constexpr std::uint8_t param_flag_unsigned = 0x80;

// ---- column definition flags ----
inline constexpr std::uint16_t not_null_flag = 1U << 0;
inline constexpr std::uint16_t pri_key_flag = 1U << 1;
inline constexpr std::uint16_t unique_key_flag = 1U << 2;
inline constexpr std::uint16_t multiple_key_flag = 1U << 3;
inline constexpr std::uint16_t blob_flag = 1U << 4;
inline constexpr std::uint16_t unsigned_flag = 1U << 5;
inline constexpr std::uint16_t zerofill_flag = 1U << 6;
inline constexpr std::uint16_t binary_flag = 1U << 7;
inline constexpr std::uint16_t enum_flag = 1U << 8;
inline constexpr std::uint16_t auto_increment_flag = 1U << 9;
inline constexpr std::uint16_t timestamp_flag = 1U << 10;
inline constexpr std::uint16_t set_flag = 1U << 11;
inline constexpr std::uint16_t no_default_value_flag = 1U << 12;
inline constexpr std::uint16_t on_update_now_flag = 1U << 13;
inline constexpr std::uint16_t num_flag = 1U << 15;

// Length of the fixed-length block of a ColumnDefinition41 (its lenenc prefix, always 0x0c).
inline constexpr std::uint64_t column_fixed_fields_size = 0x0c;

// ---- COM_STMT_EXECUTE flags (cursor type) ----
inline constexpr std::uint8_t cursor_type_no_cursor = 0x00;
inline constexpr std::uint8_t cursor_type_read_only = 0x01;
inline constexpr std::uint8_t cursor_type_for_update = 0x02;
inline constexpr std::uint8_t cursor_type_scrollable = 0x04;
inline constexpr std::uint8_t parameter_count_available = 0x08;  // MySQL 8 query attributes; not negotiated

// Offset of the first column's bit in a binary row's NULL bitmap (two reserved bits).
inline constexpr std::size_t binary_row_null_bitmap_offset = 2;

// ---- session state tracker entry types (OK packet, CLIENT_SESSION_TRACK) ----
inline constexpr std::uint8_t session_track_system_variables = 0;
inline constexpr std::uint8_t session_track_schema = 1;
inline constexpr std::uint8_t session_track_state_change = 2;
inline constexpr std::uint8_t session_track_gtids = 3;
inline constexpr std::uint8_t session_track_transaction_characteristics = 4;
inline constexpr std::uint8_t session_track_transaction_state = 5;

}  // namespace sluice::backends::mysql::wire
