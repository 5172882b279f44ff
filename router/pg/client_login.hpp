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

  // A user of the settings in force (router/shared_state.hpp user_entry); all of it must outlive this
  // object.
  struct known_user {
    const config::user_config* config = nullptr;                   // null: unknown user
    const backends::pg::auth::scram_verifier* verifier = nullptr;  // scram-sha-256 users
    std::string_view md5_stored;  // md5 users: "md5" + hex(md5(password + name)); empty: no password
  };

  // An unknown user (`user.config` null) fails like a wrong password, after a SCRAM exchange against a
  // verifier from `mocks`, made only then: trust, md5 and SCRAM users never pay for one. `mocks` and
  // `user_name` must outlive this object.
  client_login(known_user user, const backends::pg::auth::scram_mock_verifiers& mocks, std::string_view user_name);

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
  std::string_view md5_stored_;
  const backends::pg::auth::scram_mock_verifiers& mocks_;
  std::string_view user_name_;
  state state_ = state::initial;
  std::string md5_salt_;
  std::optional<backends::pg::auth::scram_server> scram_;
};

}  // namespace sluice::router::pg
