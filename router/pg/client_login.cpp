// Client authentication state machine (see client_login.hpp).
#include "router/pg/client_login.hpp"

namespace sluice::router::pg {

namespace auth = backends::pg::auth;

client_login::client_login(known_user user, const auth::scram_mock_verifiers& mocks, std::string_view user_name)
    : user_(user.config), verifier_(user.verifier), md5_stored_(user.md5_stored), mocks_(mocks), user_name_(user_name) {}

client_login::step client_login::fail(wire::byte_buffer& out, std::string_view sqlstate,
                                      std::string_view message) {
  state_ = state::finished;
  wire::encode_error_response(out, "FATAL", sqlstate, message);
  return step::failed;
}

client_login::step client_login::password_failed(wire::byte_buffer& out) {
  return fail(out, "28P01", "password authentication failed for user \"" + std::string(user_name_) + "\"");
}

client_login::step client_login::start(wire::byte_buffer& out) {
  // An unknown user still goes through a SCRAM exchange against a made-up verifier, so a client cannot
  // tell unknown users from wrong passwords, as with PostgreSQL's mock verifier. It is made here, for
  // that exchange only (an HMAC and three copies: not worth paying on every md5 or trust login).
  const auto method = user_ ? user_->auth : config::auth_method::scram_sha_256;
  switch (method) {
    case config::auth_method::trust:
      state_ = state::finished;
      wire::encode_authentication(out, wire::auth_code::ok);
      return step::done;
    case config::auth_method::md5: {
      md5_salt_ = auth::random_bytes(4);
      state_ = state::awaiting_md5;
      wire::encode_authentication(
          out, wire::auth_code::md5_password,
          wire::bytes_view(reinterpret_cast<const std::uint8_t*>(md5_salt_.data()), md5_salt_.size()));
      return step::read;
    }
    case config::auth_method::scram_sha_256: {
      if (user_ != nullptr && verifier_ != nullptr) {
        scram_.emplace(*verifier_);
      } else {
        scram_.emplace(mocks_.for_user(user_name_));
      }
      state_ = state::awaiting_sasl_initial;
      const std::string_view mechanisms[] = {auth::scram_sha_256};
      wire::encode_auth_sasl_mechanisms(out, mechanisms);
      return step::read;
    }
  }
  return fail(out, "28000", "unsupported authentication method");
}

client_login::step client_login::on_message(const wire::message_view& message, wire::byte_buffer& out) {
  if (message.type != wire::fe::password) {
    return fail(out, "08P01", "expected a password message during authentication");
  }
  switch (state_) {
    case state::awaiting_md5: {
      auto sent = wire::decode_query(message.payload);  // one NUL-terminated string
      if (!sent || !user_ || md5_stored_.empty()) return password_failed(out);
      // One MD5 over the secret precomputed with the settings (the inner md5(password + name)).
      const std::string expected = auth::md5_response_from_stored(md5_stored_, md5_salt_);
      if (expected.empty() || *sent != expected) return password_failed(out);
      state_ = state::finished;
      wire::encode_authentication(out, wire::auth_code::ok);
      return step::done;
    }
    case state::awaiting_sasl_initial: {
      auto initial = wire::decode_sasl_initial_response(message.payload);
      if (!initial) return fail(out, "08P01", "malformed SASLInitialResponse");
      if (initial->mechanism != auth::scram_sha_256) {
        return fail(out, "08P01", "client selected an invalid SASL authentication mechanism");
      }
      const std::string_view data(reinterpret_cast<const char*>(initial->data.data()), initial->data.size());
      auto server_first = scram_->handle_client_first(data);
      if (!server_first) return fail(out, "08P01", "malformed SCRAM client-first-message");
      state_ = state::awaiting_sasl_final;
      wire::encode_authentication(
          out, wire::auth_code::sasl_continue,
          wire::bytes_view(reinterpret_cast<const std::uint8_t*>(server_first->data()), server_first->size()));
      return step::read;
    }
    case state::awaiting_sasl_final: {
      const std::string_view data(reinterpret_cast<const char*>(message.payload.data()), message.payload.size());
      auto server_final = scram_->handle_client_final(data);
      if (!server_final || !user_) return password_failed(out);
      state_ = state::finished;
      wire::encode_authentication(
          out, wire::auth_code::sasl_final,
          wire::bytes_view(reinterpret_cast<const std::uint8_t*>(server_final->data()), server_final->size()));
      wire::encode_authentication(out, wire::auth_code::ok);
      return step::done;
    }
    case state::initial:
    case state::finished:
      break;
  }
  return fail(out, "08P01", "unexpected message during authentication");
}

}  // namespace sluice::router::pg
