// Backend login state machine (see server_login.hpp). Protocol: PostgreSQL 15 docs, 55.2.1-55.2.2
// ("Start-up", "SASL Authentication").
#include "backends/pg/server_login.hpp"

namespace sluice::backends::pg {

server_login::server_login(login_credentials credentials) : credentials_(std::move(credentials)) {}

void server_login::start(wire::byte_buffer& out) {
  const wire::startup_parameter parameters[] = {
      {"user", credentials_.user},
      {"database", credentials_.database},
  };
  wire::encode_startup_message(out, parameters);
}

server_login::step server_login::fail(errc code, std::string sqlstate, std::string message) {
  error_ = code;
  sqlstate_ = std::move(sqlstate);
  message_ = std::move(message);
  return step::failed;
}

server_login::step server_login::on_authentication(const wire::authentication_message& auth,
                                                   wire::byte_buffer& out) {
  const auto need_password = [&]() -> bool { return credentials_.password.has_value(); };
  switch (auth.code) {
    case wire::auth_code::ok:
      if (scram_ && !scram_verified_) {
        return fail(errc::server_auth_failed, "28000", "backend skipped SCRAM server verification");
      }
      authenticated_ = true;
      return step::read;
    case wire::auth_code::cleartext_password:
      if (!need_password()) {
        return fail(errc::server_auth_failed, "28P01", "backend asks for a password but none is configured");
      }
      wire::encode_password_message(out, *credentials_.password);
      return step::read;
    case wire::auth_code::md5_password: {
      if (!need_password()) {
        return fail(errc::server_auth_failed, "28P01", "backend asks for a password but none is configured");
      }
      if (auth.data.size() != 4) return fail(errc::server_protocol, "08P01", "malformed md5 salt");
      const std::string_view salt(reinterpret_cast<const char*>(auth.data.data()), 4);
      wire::encode_password_message(
          out, auth::md5_password_response(credentials_.user, *credentials_.password, salt));
      return step::read;
    }
    case wire::auth_code::sasl: {
      bool offers_scram = false;
      wire::string_reader reader(auth.data);
      while (auto mechanism = reader.next_string()) {
        if (mechanism->empty()) break;
        if (*mechanism == auth::scram_sha_256) offers_scram = true;
      }
      if (!offers_scram) {
        return fail(errc::server_unsupported_auth, "28000", "backend offers no SASL mechanism sluice supports");
      }
      if (!need_password()) {
        return fail(errc::server_auth_failed, "28P01", "backend asks for a password but none is configured");
      }
      scram_.emplace(credentials_.user, *credentials_.password);
      const std::string first = scram_->client_first();
      wire::encode_sasl_initial_response(
          out, auth::scram_sha_256,
          wire::bytes_view(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()));
      return step::read;
    }
    case wire::auth_code::sasl_continue: {
      if (!scram_) return fail(errc::server_protocol, "08P01", "SASLContinue without SASL");
      const std::string_view server_first(reinterpret_cast<const char*>(auth.data.data()), auth.data.size());
      auto final_message = scram_->handle_server_first(server_first);
      if (!final_message) return fail(errc::server_protocol, "08P01", "malformed SCRAM server-first-message");
      wire::encode_sasl_response(
          out, wire::bytes_view(reinterpret_cast<const std::uint8_t*>(final_message->data()),
                                final_message->size()));
      return step::read;
    }
    case wire::auth_code::sasl_final: {
      if (!scram_) return fail(errc::server_protocol, "08P01", "SASLFinal without SASL");
      const std::string_view server_final(reinterpret_cast<const char*>(auth.data.data()), auth.data.size());
      if (!scram_->verify_server_final(server_final)) {
        return fail(errc::server_auth_failed, "28000", "backend's SCRAM signature does not verify");
      }
      scram_verified_ = true;
      return step::read;
    }
    default:
      return fail(errc::server_unsupported_auth, "28000",
                  "backend requested an authentication method sluice does not support (code " +
                      std::to_string(static_cast<int>(auth.code)) + ")");
  }
}

server_login::step server_login::on_message(const wire::message_view& message, wire::byte_buffer& out) {
  // Before AuthenticationOk only authentication requests, errors and notices may come (as libpq
  // enforces): a server must not skip authentication, SCRAM's proof of the server included.
  if (!authenticated_ && message.type != wire::be::authentication && message.type != wire::be::error_response &&
      message.type != wire::be::notice_response && message.type != wire::be::negotiate_protocol_version) {
    return fail(errc::server_protocol, "08P01",
                std::string("backend sent '") + message.type + "' before completing authentication");
  }
  switch (message.type) {
    case wire::be::authentication: {
      auto auth = wire::decode_authentication(message.payload);
      if (!auth) return fail(errc::server_protocol, "08P01", "malformed authentication request");
      return on_authentication(*auth, out);
    }
    case wire::be::parameter_status: {
      auto parameter = wire::decode_parameter_status(message.payload);
      if (!parameter) return fail(errc::server_protocol, "08P01", "malformed ParameterStatus");
      for (auto& [name, value] : parameters_) {
        if (name == parameter->name) {
          value = std::string(parameter->value);
          return step::read;
        }
      }
      parameters_.emplace_back(std::string(parameter->name), std::string(parameter->value));
      return step::read;
    }
    case wire::be::backend_key_data: {
      auto key = wire::decode_backend_key_data(message.payload);
      if (!key) return fail(errc::server_protocol, "08P01", "malformed BackendKeyData");
      key_ = *key;
      return step::read;
    }
    case wire::be::ready_for_query:
      if (!wire::decode_ready_for_query(message.payload)) {
        return fail(errc::server_protocol, "08P01", "malformed ReadyForQuery");
      }
      return step::done;
    case wire::be::error_response: {
      std::string sqlstate = "08006";
      std::string text = "backend refused the connection";
      wire::for_each_error_field(message.payload, [&](char field, std::string_view value) {
        if (field == 'C') sqlstate = std::string(value);
        if (field == 'M') text = std::string(value);
      });
      const errc code = (sqlstate == "28P01" || sqlstate == "28000") ? errc::server_auth_failed
                                                                     : errc::server_error;
      return fail(code, std::move(sqlstate), std::move(text));
    }
    case wire::be::notice_response:
    case wire::be::negotiate_protocol_version:
      return step::read;
    default:
      return fail(errc::server_protocol, "08P01",
                  std::string("unexpected message during login: '") + message.type + "'");
  }
}

}  // namespace sluice::backends::pg
