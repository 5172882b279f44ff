// Sans-IO state machine for sluice logging in to a PostgreSQL backend: StartupMessage, then whatever
// authentication the server asks for (trust, cleartext, md5, SCRAM-SHA-256), then ParameterStatus and
// BackendKeyData up to the first ReadyForQuery. The caller moves bytes; this only decides.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/errc.hpp"
#include "backends/pg/auth/scram.hpp"
#include "backends/pg/wire/codec.hpp"

namespace sluice::backends::pg {

struct login_credentials {
  std::string user;
  std::optional<std::string> password;
  std::string database;
};

class server_login {
 public:
  enum class step {
    read,   // send whatever is in `out` (may be empty), then read the next server message
    done,   // ReadyForQuery received: the connection is ready
    failed, // login failed: error(), sqlstate() and message() say why
  };

  explicit server_login(login_credentials credentials);

  // Appends the StartupMessage to `out`.
  void start(wire::byte_buffer& out);
  // Feeds one server message; may append a reply to `out`.
  step on_message(const wire::message_view& message, wire::byte_buffer& out);

  errc error() const noexcept { return error_; }
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& message() const noexcept { return message_; }
  const wire::backend_key_data& key() const noexcept { return key_; }
  // ParameterStatus values the server reported during startup, in arrival order.
  std::vector<std::pair<std::string, std::string>>& parameters() noexcept { return parameters_; }

 private:
  step fail(errc code, std::string sqlstate, std::string message);
  step on_authentication(const wire::authentication_message& auth, wire::byte_buffer& out);

  login_credentials credentials_;
  std::optional<auth::scram_client> scram_;
  bool scram_verified_ = false;
  bool authenticated_ = false;  // AuthenticationOk received
  errc error_ = errc::ok;
  std::string sqlstate_;
  std::string message_;
  wire::backend_key_data key_;
  std::vector<std::pair<std::string, std::string>> parameters_;
};

}  // namespace sluice::backends::pg
