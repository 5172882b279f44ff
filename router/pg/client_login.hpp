// Sans-IO authentication of a client to sluice, per the user's configured method: trust, md5 or
// SCRAM-SHA-256 (PostgreSQL 15 docs 55.2.1 and 55.3 "SASL Authentication"). The session reads and
// writes; this decides what to send and whether the client is in.
#pragma once

#include <optional>
#include <string>

#include "backends/pg/auth/scram.hpp"
#include "backends/pg/wire/codec.hpp"
#include "router/config/config.hpp"

namespace sluice::router::pg {

namespace wire = backends::pg::wire;

class client_login {
 public:
  enum class step {
    read,   // send `out`, then read the client's next message (a PasswordMessage / SASL response)
    done,   // authenticated: `out` ends with AuthenticationOk
    failed, // `out` holds the ErrorResponse to send before closing
  };

  // `user` null: unknown user (fails like a wrong password, after the exchange). `verifier` is the
  // user's SCRAM verifier, computed once at start-up (or a mock one for unknown users); it must
  // outlive this object.
  client_login(const config::user_config* user, const backends::pg::auth::scram_verifier* verifier,
               std::string user_name);

  step start(wire::byte_buffer& out);
  step on_message(const wire::message_view& message, wire::byte_buffer& out);

 private:
  enum class state {
    initial,           // nothing sent yet
    awaiting_md5,      // sent AuthenticationMD5Password, expect PasswordMessage
    awaiting_sasl_initial,  // sent AuthenticationSASL, expect SASLInitialResponse
    awaiting_sasl_final,    // sent AuthenticationSASLContinue, expect SASLResponse
    finished,          // done or failed
  };

  step fail(wire::byte_buffer& out, std::string_view sqlstate, std::string_view message);
  step password_failed(wire::byte_buffer& out);

  const config::user_config* user_;
  const backends::pg::auth::scram_verifier* verifier_;
  std::string user_name_;
  state state_ = state::initial;
  std::string md5_salt_;
  std::optional<backends::pg::auth::scram_server> scram_;
};

}  // namespace sluice::router::pg
